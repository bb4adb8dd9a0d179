import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import {after, before, describe, it} from 'node:test'
import {sha256Hex} from '../../src/contract/object-store.js'
import type {UpResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, runPoc, testPortOffsets} from '../helpers.js'

// Issue 18's attachments the way a user gets them: `poc up --with minio` gives pm USE_MINIO and
// the stack's S3 server (natively radosgw, under podman its container); pm uploads the compliance
// invoices' attachments and answers presigned URLs the host can open; poc produce
// --with-attachments puts a large payload there and its URL travels to fi and pm.

interface Attachment {
  fileName: string
  storageKey: string
  downloadUrl?: string
  available?: boolean
  unavailableReason?: string
  sha256?: string
  sizeBytes?: number
}
interface Invoice {
  id: string
  source: string
  attachmentUrl?: string
  attachments: Attachment[]
}

async function invoices(pm: string, query = 'pageSize=100'): Promise<Invoice[]> {
  const response = await fetch(`${pm}/api/v1/compliance/invoices?${query}`)
  assert.equal(response.status, 200)
  return ((await response.json()) as {items: Invoice[]}).items
}

async function until<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await attempt()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await delay(250)
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last: ${String(last)})` : ''}`)
}

async function download(url: string): Promise<{status: number; bytes: Buffer}> {
  const response = await fetch(url)
  return {status: response.status, bytes: Buffer.from(await response.arrayBuffer())}
}

const runtimes = [
  {name: 'native', offset: testPortOffsets.attachments},
  {name: 'podman', offset: testPortOffsets.attachmentsPodman},
] as const

for (const runtime of runtimes) {
  describe(`attachments in object storage (poc up --with minio, ${runtime.name})`, {timeout: 600_000}, () => {
    const home = makeHome(`attachments-${runtime.name}`)
    const env = {POC_RUNTIME: runtime.name}
    let skipped: string | undefined
    let pm = ''
    let fi = ''
    let minioApi = ''

    before(async () => {
      const run = await runPoc(
        home,
        ['up', '--with', 'minio', '--port-offset', String(runtime.offset), '--json'],
        env,
      )
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      const result = parseJson<UpResult>(run)
      const minio = result.components.find((c) => c.name === 'minio')
      if (minio?.state !== 'healthy') {
        skipped = `minio cannot run under ${runtime.name} here: ${minio?.reason ?? 'not started'}`
        return
      }
      const url = (name: string) =>
        `http://127.0.0.1:${result.components.find((c) => c.name === name)?.ports.http}`
      pm = url('pm')
      fi = url('fi')
      minioApi = `http://127.0.0.1:${minio.ports.api}`
    })
    after(() => cleanup(home))

    it('pm uploads every seeded attachment and answers presigned URLs for the host, whose bytes match', async (t) => {
      if (skipped) return t.skip(skipped)
      const seeded = await until('every seeded attachment uploaded', async () => {
        const items = (await invoices(pm)).filter((i) => i.source === 'seed')
        return items.length === 5 && items.every((i) => i.attachments.every((a) => a.available))
          ? items
          : undefined
      })
      const attachments = seeded.flatMap((i) => i.attachments.map((a) => ({invoice: i.id, ...a})))
      assert.equal(attachments.length, 7)
      for (const a of attachments) {
        assert.equal(a.storageKey, `compliance/${a.invoice}/${a.fileName}`)
        const url = new URL(a.downloadUrl ?? '')
        assert.equal(url.origin, minioApi, 'signed for where the host reaches minio')
        assert.equal(url.searchParams.get('X-Amz-Expires'), '600')
        const {status, bytes} = await download(url.href)
        assert.equal(status, 200, bytes.toString())
        assert.equal(bytes.length, a.sizeBytes)
        assert.equal(sha256Hex(bytes), a.sha256)
        assert.equal(JSON.parse(bytes.toString()).invoiceId, a.invoice)
      }
      // The URL without its signature is refused: the bucket is not public.
      const bare = new URL(attachments[0]?.downloadUrl ?? '')
      assert.equal((await download(`${bare.origin}${bare.pathname}`)).status, 403)
    })

    it('answers the same URLs over GraphQL', async (t) => {
      if (skipped) return t.skip(skipped)
      const response = await fetch(`${pm}/graphql`, {
        method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({
          query:
            '{ complianceInvoices(filter: {keyword: "inv-2024-0002"}) { items { id attachments { fileName downloadUrl available sha256 sizeBytes } } } }',
        }),
      })
      const body = (await response.json()) as {
        data: {complianceInvoices: {items: Array<{attachments: Attachment[]}>}}
      }
      const [invoice] = body.data.complianceInvoices.items
      assert.equal(invoice?.attachments.length, 2)
      for (const a of invoice?.attachments ?? []) {
        assert.equal(a.available, true)
        const {status, bytes} = await download(a.downloadUrl ?? '')
        assert.equal(status, 200)
        assert.equal(sha256Hex(bytes), a.sha256)
      }
    })

    it('smoke scenario 14 checks an attachment and an expired URL', async (t) => {
      if (skipped) return t.skip(skipped)
      const run = await runPoc(home, ['smoke', '--only', '14', '--json'], env)
      const session = parseJson<{
        last: {scenarios: Array<{id: string; status: string; summary?: string; reason?: string}>}
      }>(run)
      const scenario = session.last.scenarios.find((s) => s.id === 'minio-ui')
      assert.equal(scenario?.status, 'passed', JSON.stringify(scenario))
      assert.match(scenario?.summary ?? '', /SHA-256 as pm reports.*an expired URL 403/)
    })

    it('poc produce --with-attachments: the payload in timesheets/, its URL in fi and on pm’s invoice', async (t) => {
      if (skipped) return t.skip(skipped)
      const bytes = 1_000_000
      const run = await runPoc(
        home,
        [
          'produce',
          '--with-attachments',
          '--attachment-bytes',
          String(bytes),
          '--batch',
          '3',
          '--rps',
          '10',
          '--json',
        ],
        env,
      )
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      const result = JSON.parse(run.stdout) as {runId: string; attachments: {uploaded: number; bytes: number}}
      assert.deepEqual([result.attachments.uploaded, result.attachments.bytes], [3, bytes])
      const fiAnswer = await fetch(`${fi}/invoices?keyPrefix=${result.runId}-&limit=10`)
      const {items} = (await fiAnswer.json()) as {items: Array<{invoiceId: string; attachmentUrl?: string}>}
      assert.equal(items.length, 3)
      for (const invoice of items) {
        const url = new URL(invoice.attachmentUrl ?? '')
        assert.equal(url.origin, minioApi)
        assert.match(url.pathname, /^\/events\/timesheets\/TS-\d{3}\/produce-[\w-]+\.json$/)
        const payload = await download(url.href)
        assert.equal(payload.status, 200)
        assert.equal(payload.bytes.length, bytes)
        assert.equal(JSON.parse(payload.bytes.toString()).note, 'large-payload')
      }
      const first = items[0]?.invoiceId ?? ''
      const linked = await until(`${first} linked in pm with its document`, async () => {
        const [invoice] = await invoices(pm, `keyword=${first}`)
        return invoice?.attachments[0]?.available ? invoice : undefined
      })
      assert.equal(linked.attachmentUrl, items[0]?.attachmentUrl)
      assert.equal(linked.attachments[0]?.storageKey, `compliance/${first}/${first}.json`)
      const document = await download(linked.attachments[0]?.downloadUrl ?? '')
      assert.equal(JSON.parse(document.bytes.toString()).invoiceId, first)
    })

    it('a restarted pm finds its objects current; with minio stopped pm serves and produce says what is missing', async (t) => {
      if (skipped) return t.skip(skipped)
      const logFile = path.join(home, 'logs', 'pm.log')
      assert.equal((await runPoc(home, ['down', '--only', 'pm'], env)).exitCode, 0)
      const restarted = await runPoc(home, ['up', '--with', 'minio', '--json'], env)
      assert.equal(restarted.exitCode, 0, restarted.stdout + restarted.stderr)
      await until('the upload round logged', async () =>
        /"uploaded":0,"current":\d+,"failed":0/.test(readFileSync(logFile, 'utf8')) ? true : undefined,
      )

      assert.equal((await runPoc(home, ['down', '--only', 'minio'], env)).exitCode, 0)
      assert.equal((await invoices(pm, 'keyword=inv-2024-0001')).length, 1, 'pm still answers')
      const produce = await runPoc(home, ['produce', '--with-attachments', '--batch', '1'], env)
      assert.equal(produce.exitCode, 3, produce.stdout + produce.stderr)
      assert.match(produce.stderr, /minio is not running.*poc up --with minio/s)
      assert.equal((await runPoc(home, ['up', '--with', 'minio'], env)).exitCode, 0)
    })
  })
}

describe('poc produce --attachment-bytes', () => {
  const home = makeHome('attachments-flags')
  after(() => cleanup(home))

  it('refuses a size out of range and the flag without --with-attachments, before touching a stack', async () => {
    const tooSmall = await runPoc(home, ['produce', '--with-attachments', '--attachment-bytes', '10'])
    assert.equal(tooSmall.exitCode, 2, tooSmall.stderr)
    assert.match(tooSmall.stderr, /greater than or equal to 256/)
    const tooBig = await runPoc(home, [
      'produce',
      '--with-attachments',
      '--attachment-bytes',
      String(2 ** 30),
    ])
    assert.equal(tooBig.exitCode, 2, tooBig.stderr)
    const alone = await runPoc(home, ['produce', '--attachment-bytes', '1000'])
    assert.equal(alone.exitCode, 2, alone.stderr)
    assert.match(alone.stderr, /--with-attachments/)
  })
})
