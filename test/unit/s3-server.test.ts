import assert from 'node:assert/strict'
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {execa} from 'execa'
import {getComponent} from '../../src/stack/catalog.js'
import {componentContext} from '../../src/stack/context.js'
import {homeAt} from '../../src/stack/home.js'
import {imageRecipes, recipeHash} from '../../src/stack/images/recipes.js'
import {
  cephS3Env,
  cephS3Script,
  cephS3ScriptPath,
  containerDataDir,
  s3ServerSettings,
} from '../../src/stack/s3-server.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'poc-s3-unit-'))
after(() => rmSync(scratch, {recursive: true, force: true}))

describe('the S3 server settings', () => {
  it("takes MINIO_ROOT_USER, MINIO_ROOT_PASSWORD and MINIO_BUCKET from the caller, else the seed's", () => {
    assert.deepEqual(s3ServerSettings({}), {user: 'minioadmin', password: 'minioadmin', bucket: 'events'})
    assert.deepEqual(
      s3ServerSettings({
        MINIO_ROOT_USER: 'u',
        MINIO_ROOT_PASSWORD: 'secret123',
        MINIO_BUCKET: 'b',
        MINIO_ACCESS_KEY: 'x',
      }),
      {user: 'u', password: 'secret123', bucket: 'b'},
    )
    assert.deepEqual(getComponent('minio').passEnv, [
      'MINIO_ROOT_USER',
      'MINIO_ROOT_PASSWORD',
      'MINIO_BUCKET',
    ])
  })

  it("gives the script every port the Ceph daemons bind, from the catalog's, shifted by the offset", () => {
    const ctx = componentContext('minio', homeAt('/tmp/poc-s3-unit'), 2550)
    assert.deepEqual(cephS3Env('/d', ctx.bind, s3ServerSettings({})), {
      POC_S3_DATA: '/d',
      POC_S3_HOST: '127.0.0.1',
      POC_S3_API_PORT: '11550',
      POC_S3_MON_PORT: '9362',
      POC_S3_OSD_PORTS: '9358-9361',
      MINIO_ROOT_USER: 'minioadmin',
      MINIO_ROOT_PASSWORD: 'minioadmin',
      MINIO_BUCKET: 'events',
    })
    // In a container on the stack's network: every interface, the catalog's own ports.
    const inContainer = componentContext('minio', homeAt('/tmp/poc-s3-unit'), 2550, () => 'network-container')
    const env = getComponent('minio').container?.env?.(inContainer) ?? {}
    assert.equal(env.POC_S3_HOST, '0.0.0.0')
    assert.equal(env.POC_S3_API_PORT, '9000')
    assert.equal(env.POC_S3_DATA, containerDataDir)
  })
})

describe('the Ceph script', () => {
  const script = path.join(scratch, 'poc-ceph-s3')
  writeFileSync(script, cephS3Script, {mode: 0o755})
  const env = (data: string) =>
    cephS3Env(
      data,
      {host: '127.0.0.1', ports: {api: 11550, mon: 9362, osd: 9358, osd4: 9361}},
      s3ServerSettings({}),
    )

  it('is valid bash and refuses an unknown step', async () => {
    await execa('bash', ['-n', script])
    const run = await execa('bash', [script, 'nonsense'], {env: env(path.join(scratch, 'x')), reject: false})
    assert.equal(run.exitCode, 2)
    assert.match(run.stderr, /usage: poc-ceph-s3 init\|mon\|osd\|rgw\|server\|conf/)
  })

  it('writes a ceph.conf with msgr2 only, pinned ports, loopback daemons and its data under the data dir', async () => {
    const data = path.join(scratch, 'data')
    const conf = (await execa('bash', [script, 'conf'], {env: env(data)})).stdout
    assert.match(conf, /^mon host = v2:127\.0\.0\.1:9362$/m)
    assert.match(conf, /^ms bind msgr1 = false$/m)
    assert.match(conf, /^ms bind port min = 9358$/m)
    assert.match(conf, /^ms bind port max = 9361$/m)
    assert.match(conf, /^rgw frontends = beast endpoint=127\.0\.0\.1:11550$/m)
    assert.match(conf, /^public addr = 127\.0\.0\.1$/m)
    assert.match(conf, /^cluster addr = 127\.0\.0\.1$/m)
    // BlueStore's block file outside the OSD's directory (inside, it becomes a symlink there).
    assert.match(conf, new RegExp(`^bluestore block path = ${data}/block$`, 'm'))
    assert.match(conf, new RegExp(`^osd data = ${data}/osd/ceph-0$`, 'm'))
    assert.match(conf, /^admin socket = .*\/run\/\$name\.asok$/m)
    const fsid = /^fsid = ([0-9a-f-]{36})$/m.exec(conf)?.[1]
    assert.ok(fsid, 'a cluster id')
    const again = (await execa('bash', [script, 'conf'], {env: env(data)})).stdout
    assert.equal(/^fsid = (.*)$/m.exec(again)?.[1], fsid, 'a later start keeps the cluster id')
  })
})

describe('the minio recipes', () => {
  const ctx = componentContext('minio', homeAt('/tmp/poc-s3-unit'), 0)

  it('runs Ceph natively as three processes (monitor, OSD, radosgw) when no minio binary is installed', () => {
    const native = getComponent('minio').native!
    const saved = process.env.PATH
    process.env.PATH = path.join(scratch, 'empty')
    try {
      assert.deepEqual(
        native.binaries.map((b) => b.name),
        ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph', 'curl', 'bash'],
      )
    } finally {
      process.env.PATH = saved
    }
    const processes = native.processes(ctx, {bash: '/bin/bash'})
    assert.deepEqual(
      processes.map((p) => [p.role, p.args.at(-1)]),
      [
        ['mon', 'mon'],
        ['osd', 'osd'],
        ['rgw', 'rgw'],
      ],
    )
    assert.ok(processes.every((p) => p.env.POC_S3_DATA === path.join(ctx.dataDir, 'data')))
  })

  it('runs a minio binary instead when one is on PATH', () => {
    const bin = path.join(scratch, 'bin')
    rmSync(bin, {recursive: true, force: true})
    writeFileSync(path.join(scratch, 'minio'), '')
    const saved = process.env.PATH
    try {
      // Only an executable counts.
      process.env.PATH = scratch
      assert.notEqual(getComponent('minio').native!.binaries[0]?.name, 'minio')
      chmodSync(path.join(scratch, 'minio'), 0o755)
      assert.deepEqual(
        getComponent('minio').native!.binaries.map((b) => b.name),
        ['minio'],
      )
    } finally {
      process.env.PATH = saved
    }
    const [server] = getComponent('minio').native!.processes(ctx, {minio: '/usr/local/bin/minio'})
    assert.deepEqual(server?.args, [
      'server',
      path.join(ctx.dataDir, 'data'),
      '--address',
      '127.0.0.1:9000',
      '--console-address',
      '127.0.0.1:9001',
    ])
    assert.equal(server?.env.MINIO_ROOT_USER, s3ServerSettings().user)
  })

  it("keeps the official image first, with poc's local image of the same script as the fallback", () => {
    const container = getComponent('minio').container!
    assert.equal(container.image, 'docker.io/minio/minio:latest')
    assert.equal(container.localImage, 'minio')
    assert.deepEqual(container.cmd?.(ctx), ['server', '/data', '--console-address', ':9001'])
    const recipe = imageRecipes.minio
    assert.deepEqual(recipe.entrypoint, [cephS3ScriptPath])
    assert.equal(recipe.files?.[cephS3ScriptPath]?.content, cephS3Script)
    assert.equal(recipe.files?.[cephS3ScriptPath]?.mode, 0o755)
    const altered = {
      ...recipe,
      files: {[cephS3ScriptPath]: {content: `${cephS3Script}\n# changed`, mode: 0o755}},
    }
    assert.notEqual(
      recipeHash('minio', {recipe: altered}),
      recipeHash('minio'),
      'a changed script is a new image',
    )
  })
})
