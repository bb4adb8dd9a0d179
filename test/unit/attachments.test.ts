import assert from 'node:assert/strict'
import {createServer} from 'node:net'
import {describe, it} from 'node:test'
import {largePayload} from '../../src/checks/produce.js'
import {
  complianceKey,
  objectStoreError,
  objectStoreFromEnv,
  presignGet,
  s3Client,
  sha256Hex,
  timesheetPayloadKey,
  withRetries,
} from '../../src/contract/object-store.js'
import {
  AttachmentStore,
  attachmentBody,
  attachmentsOf,
  storageKeyOf,
} from '../../src/services/pm/attachments.js'
import {type ComplianceInvoice, normalizeInvoice} from '../../src/services/pm/invoices.js'
import {createLogger} from '../../src/services/shared/logger.js'
import {getComponent, objectStoreEnv, serviceEnvironment} from '../../src/stack/catalog.js'
import {componentContext} from '../../src/stack/context.js'
import {homeAt} from '../../src/stack/home.js'

const seeded = (): ComplianceInvoice =>
  normalizeInvoice(
    {
      id: 'inv-2024-0001',
      invoiceNumber: 'INV-2024-0001',
      attachments: [
        {
          id: 'att-001',
          kind: 'pdf',
          fileName: 'INV-2024-0001.pdf',
          mimeType: 'application/pdf',
          sizeLabel: '412KB',
        },
        {
          id: 'att-002',
          kind: 'xml',
          fileName: 'INV-2024-0001.xml',
          mimeType: 'application/xml',
          sizeLabel: '36KB',
          storageKey: 'compliance/inv-2024-0001/own.xml',
        },
      ],
      createdAt: '2024-09-25T09:00:00+09:00',
    },
    {},
  )

const linked = (): ComplianceInvoice =>
  normalizeInvoice(
    {invoiceId: 'INV-ABC', timesheetId: 'TS-001', amount: 80_000, createdAt: '2026-12-01T00:00:00Z'},
    {},
  )

describe('object store configuration (the seed variables)', () => {
  it('is off without USE_MINIO and takes the seed defaults with it', () => {
    assert.equal(objectStoreFromEnv({}), undefined)
    assert.equal(objectStoreFromEnv({USE_MINIO: 'false', MINIO_PORT: 'nonsense'}), undefined)
    const config = objectStoreFromEnv({USE_MINIO: 'true'})
    assert.deepEqual(config, {
      endpoint: 'http://localhost:9000',
      publicEndpoint: 'http://localhost:9000',
      accessKey: 'minioadmin',
      secretKey: 'minioadmin',
      bucket: 'events',
      presignSeconds: 600,
      region: 'us-east-1',
      maxRetries: 3,
      retryBackoffMs: 500,
    })
  })

  it('builds the public endpoint from MINIO_PUBLIC_ENDPOINT/PORT, the port defaulting to MINIO_PORT', () => {
    const config = objectStoreFromEnv({
      USE_MINIO: 'TRUE',
      MINIO_ENDPOINT: 'minio',
      MINIO_PORT: '9100',
      MINIO_PUBLIC_ENDPOINT: '127.0.0.1',
      MINIO_USE_SSL: 'true',
      MINIO_MAX_RETRIES: '5',
      MINIO_RETRY_BACKOFF_MS: '0',
    })
    assert.equal(config?.endpoint, 'https://minio:9100')
    assert.equal(config?.publicEndpoint, 'https://127.0.0.1:9100')
    assert.equal(config?.maxRetries, 5)
    assert.equal(config?.retryBackoffMs, 0)
    assert.equal(
      objectStoreFromEnv({USE_MINIO: 'true', MINIO_PUBLIC_PORT: '19000'})?.publicEndpoint,
      'http://localhost:19000',
    )
  })

  it('refuses a bad value with the variable and what it got', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{MINIO_PORT: '99999'}, /MINIO_PORT must be a port number \(1-65535\), got "99999"/],
      [{MINIO_PUBLIC_PORT: 'x'}, /MINIO_PUBLIC_PORT must be a port number/],
      [
        {MINIO_PRESIGN_SECONDS: '0'},
        /MINIO_PRESIGN_SECONDS must be a whole number from 1 to 604800, got "0"/,
      ],
      [{MINIO_PRESIGN_SECONDS: '604801'}, /MINIO_PRESIGN_SECONDS/],
      [{MINIO_MAX_RETRIES: '0'}, /MINIO_MAX_RETRIES must be a whole number from 1 to 100/],
      [{MINIO_RETRY_BACKOFF_MS: '-1'}, /MINIO_RETRY_BACKOFF_MS/],
      [{MINIO_ENDPOINT: 'http://minio:9000'}, /MINIO_ENDPOINT must be a host name or address/],
      [{MINIO_PUBLIC_ENDPOINT: 'localhost:9000'}, /MINIO_PUBLIC_ENDPOINT must be a host name/],
    ]
    for (const [env, message] of bad)
      assert.throws(() => objectStoreFromEnv({USE_MINIO: 'true', ...env}), message)
  })
})

describe('object keys', () => {
  it("names an invoice's attachment compliance/<invoiceId>/<file> and a payload timesheets/<id>/<key>.json", () => {
    assert.equal(
      complianceKey('inv-2024-0001', 'INV-2024-0001.pdf'),
      'compliance/inv-2024-0001/INV-2024-0001.pdf',
    )
    assert.equal(timesheetPayloadKey('TS-001', 'run-1'), 'timesheets/TS-001/run-1.json')
  })

  it("keeps a seeded attachment's own storageKey and derives the others", () => {
    const invoice = seeded()
    const [pdf, xml] = attachmentsOf(invoice)
    assert.equal(storageKeyOf(invoice, pdf!), 'compliance/inv-2024-0001/INV-2024-0001.pdf')
    assert.equal(storageKeyOf(invoice, xml!), 'compliance/inv-2024-0001/own.xml')
  })

  it('gives an invoice linked from fi one attachment, its invoice document', () => {
    const invoice = linked()
    assert.equal(invoice.source, 'fi')
    const [document, ...rest] = attachmentsOf(invoice)
    assert.deepEqual(rest, [])
    assert.equal(storageKeyOf(invoice, document!), 'compliance/INV-ABC/INV-ABC.json')
    assert.deepEqual(JSON.parse(attachmentBody(invoice, document!).toString()).amount, 80_000)
  })

  it('makes the same bytes for the same invoice (seeding is idempotent, a download checkable)', () => {
    const a = attachmentBody(seeded(), seeded().attachments[0]!)
    const b = attachmentBody(seeded(), seeded().attachments[0]!)
    assert.equal(sha256Hex(a), sha256Hex(b))
    assert.notEqual(sha256Hex(a), sha256Hex(attachmentBody(seeded(), seeded().attachments[1]!)))
    assert.equal(JSON.parse(a.toString()).attachmentId, 'att-001')
  })
})

describe('presigned URLs', () => {
  it('are signed for the public endpoint, valid for the given seconds', async () => {
    const config = objectStoreFromEnv({
      USE_MINIO: 'true',
      MINIO_ENDPOINT: 'minio',
      MINIO_PUBLIC_ENDPOINT: '127.0.0.1',
      MINIO_PUBLIC_PORT: '11575',
      MINIO_PRESIGN_SECONDS: '120',
    })!
    const client = s3Client(config, 'public')
    const url = new URL(await presignGet(client, config, 'compliance/inv-1/a.pdf'))
    assert.equal(url.origin, 'http://127.0.0.1:11575')
    assert.equal(url.pathname, '/events/compliance/inv-1/a.pdf')
    assert.equal(url.searchParams.get('X-Amz-Expires'), '120')
    assert.match(url.searchParams.get('X-Amz-Credential') ?? '', /^minioadmin\//)
    assert.match(url.searchParams.get('X-Amz-Signature') ?? '', /^[0-9a-f]{64}$/)
    const short = new URL(await presignGet(client, config, 'compliance/inv-1/a.pdf', 1))
    assert.equal(short.searchParams.get('X-Amz-Expires'), '1')
    client.destroy()
  })
})

describe('retries (MINIO_MAX_RETRIES, MINIO_RETRY_BACKOFF_MS)', () => {
  it('tries up to maxRetries times, waiting n × backoff after attempt n, then throws the last error', async () => {
    const attempts: number[] = []
    const started = performance.now()
    await assert.rejects(
      withRetries({maxRetries: 3, retryBackoffMs: 20}, async (n) => {
        attempts.push(n)
        throw new Error(`attempt ${n}`)
      }),
      /attempt 3/,
    )
    assert.deepEqual(attempts, [1, 2, 3])
    // 20 + 40 ms of backoff.
    assert.ok(performance.now() - started >= 55, `${performance.now() - started} ms`)
  })

  it('answers the first success', async () => {
    const retried: number[] = []
    const value = await withRetries(
      {maxRetries: 5, retryBackoffMs: 1},
      async (n) => {
        if (n < 3) throw new Error('not yet')
        return n
      },
      (_error, n) => retried.push(n),
    )
    assert.equal(value, 3)
    assert.deepEqual(retried, [1, 2])
  })

  it('describes an SDK or network error in a few words', () => {
    const sdkError = Object.assign(new Error('Forbidden'), {
      name: 'AccessDenied',
      $metadata: {httpStatusCode: 403},
    })
    assert.equal(objectStoreError(sdkError), 'AccessDenied: HTTP 403: Forbidden')
    const network = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {code: 'ECONNREFUSED'})
    assert.equal(objectStoreError(network), 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1')
  })
})

describe('pm attachments with an unreachable server', () => {
  it('answers them unavailable with the reason, never throws, and keeps them queued', async () => {
    // A port that was free a moment ago: connections are refused.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const {port} = server.address() as {port: number}
        server.close(() => resolve(port))
      })
    })
    const config = objectStoreFromEnv({
      USE_MINIO: 'true',
      MINIO_ENDPOINT: '127.0.0.1',
      MINIO_PORT: String(port),
      MINIO_MAX_RETRIES: '2',
      MINIO_RETRY_BACKOFF_MS: '1',
    })!
    const store = new AttachmentStore({config, logger: createLogger('pm', 'silent'), retryLaterMs: 60_000})
    const [before] = await store.decorate([seeded()])
    assert.equal(before?.attachments[0]?.downloadUrl, undefined)
    store.ensure([seeded(), linked()])
    await store.settled()
    const answered = await store.decorate([seeded(), linked()])
    for (const attachment of answered.flatMap((i) => i.attachments)) {
      const fields = attachment as typeof attachment & {available: boolean; unavailableReason: string}
      assert.equal(fields.available, false)
      assert.match(
        fields.unavailableReason,
        new RegExp(`127\\.0\\.0\\.1:${port} unreachable: .*ECONNREFUSED`),
      )
      assert.equal(fields.downloadUrl, undefined)
    }
    assert.equal(answered[1]?.attachments.length, 1)
    store.close()
  })
})

describe("the catalog's object store for pm", () => {
  const home = homeAt('/tmp/poc-unit-attachments')

  it('is nothing without minio in the stack, as today', () => {
    const ctx = componentContext('pm', home, 1000)
    assert.deepEqual(objectStoreEnv(ctx), {})
    assert.equal(serviceEnvironment(getComponent('pm'), ctx, {}).USE_MINIO, undefined)
  })

  it('with minio: where pm reaches it, where the host does (the published port), credentials and bucket', () => {
    const inStack = (name: string) => name === 'minio'
    const native = serviceEnvironment(
      getComponent('pm'),
      componentContext('pm', home, 1000, undefined, inStack),
      {MINIO_PRESIGN_SECONDS: '30', USE_MINIO: 'false'},
    )
    assert.equal(native.USE_MINIO, 'true')
    assert.equal(native.MINIO_ENDPOINT, '127.0.0.1')
    assert.equal(native.MINIO_PORT, '10000')
    assert.equal(native.MINIO_PUBLIC_ENDPOINT, '127.0.0.1')
    assert.equal(native.MINIO_PUBLIC_PORT, '10000')
    assert.equal(native.MINIO_ACCESS_KEY, 'minioadmin')
    assert.equal(native.MINIO_BUCKET, 'events')
    assert.equal(native.MINIO_PRESIGN_SECONDS, '30')
    const inNetwork = serviceEnvironment(
      getComponent('pm'),
      componentContext('pm', home, 1000, () => 'network-container', inStack),
      {},
    )
    assert.equal(inNetwork.MINIO_ENDPOINT, 'minio')
    assert.equal(inNetwork.MINIO_PORT, '9000')
    assert.equal(inNetwork.MINIO_PUBLIC_PORT, '10000')
    assert.doesNotThrow(() => objectStoreFromEnv(inNetwork))
  })
})

describe("poc produce's large payload", () => {
  it('is the seed shape, exactly the bytes asked for', () => {
    for (const bytes of [256, 131_072, 1_000_003]) {
      const body = largePayload({runId: 'r', timesheetId: 'TS-001', approvalKey: 'r-1'}, bytes)
      assert.equal(body.length, bytes)
      const parsed = JSON.parse(body.toString())
      assert.equal(parsed.note, 'large-payload')
      assert.equal(parsed.timesheetId, 'TS-001')
      assert.match(parsed.filler, /^x+$/)
    }
  })
})
