import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {after, before, describe, it} from 'node:test'
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import {getSignedUrl} from '@aws-sdk/s3-request-presigner'
import {objectStoreFromEnv, s3Client} from '../../src/contract/object-store.js'
import {descendants} from '../../src/stack/proc.js'
import type {ResetResult} from '../../src/stack/reset.js'
import type {StackState} from '../../src/stack/state.js'
import type {UpResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, runPoc} from '../helpers.js'

/**
 * The `minio` component as a user gets it, one stack per runtime (native: Ceph's radosgw as
 * three processes; podman: poc's local image, the same Ceph in one container): the bucket after
 * the first start, wrong credentials refused, a 20 MB object round-trip, uploads kept across a
 * kill -9 of radosgw and across poc down/up, and reset --with-minio through the S3 API.
 * Every check talks to the real server with the AWS SDK, as pm and produce do.
 */
export function minioSuite(runtime: 'native' | 'podman', offset: number, skip: string | false): void {
  const env = {POC_RUNTIME: runtime}
  const port = 9000 + offset
  const client = (secret = 'minioadmin', access = 'minioadmin'): S3Client =>
    s3Client(
      objectStoreFromEnv({
        USE_MINIO: 'true',
        MINIO_ENDPOINT: '127.0.0.1',
        MINIO_PORT: String(port),
        MINIO_ACCESS_KEY: access,
        MINIO_SECRET_KEY: secret,
      })!,
    )
  const up = async (home: string): Promise<UpResult> => {
    const args = ['up', '--only', 'minio', '--port-offset', String(offset), '--json']
    const run = await runPoc(home, args, env, 600_000)
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    return parseJson<UpResult>(run)
  }
  const readyMs = (result: UpResult) => result.components.find((c) => c.name === 'minio')?.readyMs

  describe(`minio under ${runtime}`, {skip}, () => {
    let home = ''
    let s3: S3Client
    const body = Buffer.alloc(20 * 1024 * 1024)
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32LE((i ^ 0x9e3779b9) >>> 0, i)

    before(async () => {
      home = makeHome(`minio-${runtime}`)
      const first = await up(home)
      console.log(`# minio (${runtime}) first start: ready in ${readyMs(first)} ms`)
      s3 = client()
    })
    after(async () => {
      s3?.destroy()
      if (home) await cleanup(home)
    })

    it('has the bucket after the first start and refuses wrong credentials with 403', async () => {
      await s3.send(new HeadBucketCommand({Bucket: 'events'}))
      for (const bad of [client('wrong'), client('minioadmin', 'nobody')]) {
        await assert.rejects(bad.send(new ListObjectsV2Command({Bucket: 'events'})), (error: unknown) => {
          assert.equal((error as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode, 403)
          return true
        })
        bad.destroy()
      }
    })

    it('round-trips a 20 MB object, by the SDK and a presigned URL; an expired URL is refused', async () => {
      let t = performance.now()
      await s3.send(new PutObjectCommand({Bucket: 'events', Key: 'compliance/big.bin', Body: body}))
      const putMs = performance.now() - t
      t = performance.now()
      const got = await s3.send(new GetObjectCommand({Bucket: 'events', Key: 'compliance/big.bin'}))
      const bytes = Buffer.from(await got.Body!.transformToByteArray())
      const getMs = performance.now() - t
      assert.ok(bytes.equals(body), 'the bytes read back are the bytes written')
      console.log(`# minio (${runtime}) 20 MB put ${putMs.toFixed(0)} ms, get ${getMs.toFixed(0)} ms`)
      const signed = await getSignedUrl(
        s3,
        new GetObjectCommand({Bucket: 'events', Key: 'compliance/big.bin'}),
        {
          expiresIn: 60,
        },
      )
      const answer = await fetch(signed)
      assert.equal(answer.status, 200)
      assert.ok(Buffer.from(await answer.arrayBuffer()).equals(body))
      const expiring = await getSignedUrl(
        s3,
        new GetObjectCommand({Bucket: 'events', Key: 'compliance/big.bin'}),
        {expiresIn: 1},
      )
      await new Promise((resolve) => setTimeout(resolve, 2100))
      const expired = await fetch(expiring)
      await expired.arrayBuffer()
      assert.equal(expired.status, 403)
    })

    it('keeps uploads across a kill -9 of radosgw alone and across poc down / poc up', async () => {
      await s3.send(new PutObjectCommand({Bucket: 'events', Key: 'contracts/kept.bin', Body: body}))
      const state = JSON.parse(readFileSync(`${home}/state.json`, 'utf8')) as StackState
      const record = state.components.find((c) => c.name === 'minio')!
      const rgw = record.processes
        .flatMap((p) => [p.pid, ...descendants(p.pid)])
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'radosgw'
          } catch {
            return false
          }
        })
      assert.equal(rgw.length, 1, `one radosgw among ${JSON.stringify(record.processes)}`)
      process.kill(rgw[0] as number, 'SIGKILL')
      const status = async () =>
        parseJson<{components: Array<{name: string; state: string}>}>(
          await runPoc(home, ['status', '--json'], env),
        ).components.find((c) => c.name === 'minio')?.state
      for (let i = 0; i < 100 && (await status()) === 'healthy'; i++)
        await new Promise((r) => setTimeout(r, 100))
      assert.notEqual(await status(), 'healthy', 'a killed radosgw shows minio not healthy')
      const again = await up(home)
      console.log(`# minio (${runtime}) start after kill -9 of radosgw: ready in ${readyMs(again)} ms`)
      s3.destroy()
      s3 = client()
      await assertObject('contracts/kept.bin')

      const down = await runPoc(home, ['down'], env)
      assert.equal(down.exitCode, 0, down.stdout + down.stderr)
      assert.doesNotMatch(down.stdout + down.stderr, /SIGKILL/, 'minio stops on SIGTERM')
      const later = await up(home)
      console.log(`# minio (${runtime}) later start: ready in ${readyMs(later)} ms`)
      // A fresh client: the old one's keep-alive sockets led to the server that was stopped.
      s3.destroy()
      s3 = client()
      await assertObject('contracts/kept.bin')
      await assertObject('compliance/big.bin')
    })

    it('reset --with-minio deletes compliance/ and timesheets/ of every bucket and nothing else', async () => {
      await s3.send(new CreateBucketCommand({Bucket: 'archive'}))
      const keys = [
        'compliance/a.pdf',
        'timesheets/2026/b.pdf',
        'contracts/c.pdf',
        'compliance-notes.txt',
        'x/timesheets/d',
      ]
      for (const Bucket of ['events', 'archive'])
        for (const Key of keys) await s3.send(new PutObjectCommand({Bucket, Key, Body: Key}))
      const run = await runPoc(home, ['reset', '--with-minio', '--yes', '--json'], env)
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      const result = parseJson<ResetResult>(run)
      const step = result.steps.find((s) => s.component === 'minio')
      console.log(`# minio (${runtime}) reset --with-minio: ${result.durationMs} ms, ${step?.detail}`)
      assert.equal(step?.mode, 'running')
      const left = async (Bucket: string) =>
        ((await s3.send(new ListObjectsV2Command({Bucket}))).Contents ?? []).map((o) => o.Key).sort()
      const kept = ['compliance-notes.txt', 'contracts/c.pdf', 'x/timesheets/d']
      assert.deepEqual(await left('archive'), kept)
      assert.deepEqual(await left('events'), [...kept, 'contracts/kept.bin'].sort())
    })

    async function assertObject(key: string): Promise<void> {
      const got = await s3.send(new GetObjectCommand({Bucket: 'events', Key: key}))
      assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(body), `${key} survived intact`)
    }
  })
}
