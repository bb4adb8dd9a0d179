import {randomBytes} from 'node:crypto'
import http from 'node:http'
import {setTimeout as delay} from 'node:timers/promises'
import {
  type ObjectStoreConfig,
  ensureBucket,
  objectStoreError,
  presignGet,
  s3Client,
  sdk,
  timesheetPayloadKey,
  withRetries,
} from '../contract/object-store.js'
import {PocError, ExitCode} from '../stack/errors.js'
import {type Percentiles, summarize} from './stats.js'

/** The seed producer's timesheets: TS-001 … TS-010, cycled. */
export const seedTimesheets = Array.from({length: 10}, (_, i) => `TS-${String(i + 1).padStart(3, '0')}`)

export interface ProduceRequest {
  pmUrl: string
  fiUrl: string
  /** PRODUCER_BATCH: approvals to send. */
  batch: number
  /** PRODUCER_RPS: approvals per second, sent on schedule whether or not earlier ones answered. */
  rps: number
  /** Wait for every accepted approval's invoice in fi, up to this long after the last send; 0 skips. */
  waitMs: number
  timesheets?: string[]
  /** Requests allowed in flight at once; a send due while at the cap goes out late, and is counted. */
  maxInFlight?: number
  progress?: (event: {sent: number; accepted: number; visible?: number}) => void
  signal?: AbortSignal
  /** --with-attachments: each approval's large payload goes to object storage first, its URL in the event. */
  attachments?: {store: ObjectStoreConfig; bytes: number}
}

/** --attachment-bytes: the seed producer's payload is 128 KiB of filler; 64 MiB at most. */
export const attachmentBytes = {default: 128 * 1024, min: 256, max: 64 * 1024 * 1024} as const

/**
 * The seed producer's large payload (`{note: 'large-payload', filler: 'x'…}`), with the approval
 * it belongs to, exactly `bytes` long (as JSON).
 */
export function largePayload(
  fields: {runId: string; timesheetId: string; approvalKey: string},
  bytes: number,
): Buffer {
  const head = {note: 'large-payload', ...fields}
  const empty = JSON.stringify({...head, filler: ''}).length
  return Buffer.from(JSON.stringify({...head, filler: 'x'.repeat(Math.max(bytes - empty, 0))}))
}

export interface AttachmentResult {
  bucket: string
  bytes: number
  uploaded: number
  /** PUT of one payload, in ms. */
  uploadMs: Percentiles
}

export interface E2eResult {
  /** Accepted approvals whose invoice fi shows. */
  visible: number
  missing: number
  /** approve accepted in pm (event occurredAt) → invoice projected in fi, in ms. */
  latencyMs: Percentiles
  /** From the last accepted approval until fi showed every invoice: near 0 when nothing backs up. */
  drainMs: number | null
}

export interface ProduceResult {
  runId: string
  batch: number
  targetRps: number
  sent: number
  accepted: number
  failed: number
  failures: Record<string, number>
  /** The first few failure messages, to say what went wrong. */
  failureSamples: string[]
  sendDurationMs: number
  achievedRps: number
  /** Sends that went out more than 50 ms after their scheduled time (client at its in-flight cap). */
  lateSends: number
  /** Accepted approvals per shard queue, as pm reported them. */
  shards: Record<string, number>
  httpMs: Percentiles
  e2e?: E2eResult
  attachments?: AttachmentResult
  ok: boolean
}

interface Accepted {
  key: string
  acceptedAt: number
}

/**
 * The seed's producer over pm's seed-compatible API: POST /timesheets/approve at a fixed rate
 * (open model), each with its own Idempotency-Key, then (optionally) waits for fi to show every
 * invoice and reports the approve → invoice latency from the events' own timestamps.
 */
export async function produce(request: ProduceRequest): Promise<ProduceResult> {
  const runId = `produce-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
  const timesheets = request.timesheets ?? seedTimesheets
  const maxInFlight = request.maxInFlight ?? 256
  const failures: Record<string, number> = {}
  const failureSamples: string[] = []
  const httpMs: number[] = []
  const shards: Record<string, number> = {}
  const accepted: Accepted[] = []
  let sent = 0
  let lateSends = 0
  let inFlight = 0
  const slotFreed: Array<() => void> = []
  const uploadMs: number[] = []
  const objects = request.attachments ? await objectStorage(request.attachments.store) : undefined
  // node:http on keep-alive sockets: fetch (undici) spent ~2 ms of CPU per approval here, on the
  // cores the backbone it measures runs on (issue 19).
  const agent = new http.Agent({keepAlive: true, maxSockets: maxInFlight})
  const approveUrl = new URL('/timesheets/approve', request.pmUrl)

  const fail = (kind: string, message: string) => {
    failures[kind] = (failures[kind] ?? 0) + 1
    if (failureSamples.length < 5) failureSamples.push(message)
  }

  const send = async (i: number): Promise<void> => {
    const timesheetId = timesheets[i % timesheets.length] as string
    const key = `${runId}-${i}`
    let attachmentUrl: string | undefined
    try {
      if (objects && request.attachments) {
        const body = largePayload({runId, timesheetId, approvalKey: key}, request.attachments.bytes)
        const put = performance.now()
        attachmentUrl = await objects.upload(timesheetPayloadKey(timesheetId, key), body)
        uploadMs.push(performance.now() - put)
      }
    } catch (error) {
      fail('attachment', `${timesheetId}: upload failed: ${objectStoreError(error)}`)
      inFlight--
      slotFreed.shift()?.()
      return
    }
    const started = performance.now()
    try {
      const response = await post(
        agent,
        approveUrl,
        {'content-type': 'application/json', 'idempotency-key': key},
        JSON.stringify({timesheetId, hours: 1 + (i % 8), note: `${runId} #${i}`, attachmentUrl}),
      )
      const text = response.body
      httpMs.push(performance.now() - started)
      if (response.status !== 202) {
        fail(`http_${response.status}`, `${timesheetId}: HTTP ${response.status} ${text.slice(0, 200)}`)
        return
      }
      const {shard} = JSON.parse(text) as {shard?: number}
      const queue = shard === undefined ? 'unknown' : `shard.${shard}`
      shards[queue] = (shards[queue] ?? 0) + 1
      accepted.push({key, acceptedAt: Date.now()})
    } catch (error) {
      fail('network', `${timesheetId}: ${error instanceof Error ? error.message : String(error)}`)
    } finally {
      inFlight--
      slotFreed.shift()?.()
    }
  }

  const started = performance.now()
  const pending: Array<Promise<void>> = []
  const ticker = setInterval(() => request.progress?.({sent, accepted: accepted.length}), 1000)
  try {
    for (let i = 0; i < request.batch && !request.signal?.aborted; i++) {
      const due = started + (i * 1000) / request.rps
      const wait = due - performance.now()
      if (wait > 0) await delay(wait)
      while (inFlight >= maxInFlight) await new Promise<void>((resolve) => slotFreed.push(resolve))
      if (performance.now() - due > 50) lateSends++
      inFlight++
      sent++
      pending.push(send(i))
    }
    await Promise.all(pending)
  } finally {
    clearInterval(ticker)
    objects?.close()
    agent.destroy()
  }
  const sendDurationMs = performance.now() - started
  const result: ProduceResult = {
    runId,
    batch: request.batch,
    targetRps: request.rps,
    sent,
    accepted: accepted.length,
    failed: sent - accepted.length,
    failures,
    failureSamples,
    sendDurationMs: Math.round(sendDurationMs),
    achievedRps: Number(((sent / sendDurationMs) * 1000).toFixed(1)),
    lateSends,
    shards,
    httpMs: summarize(httpMs),
    ...(request.attachments
      ? {
          attachments: {
            bucket: request.attachments.store.bucket,
            bytes: request.attachments.bytes,
            uploaded: uploadMs.length,
            uploadMs: summarize(uploadMs),
          },
        }
      : {}),
    ok: sent === request.batch && accepted.length === sent,
  }
  if (request.waitMs > 0 && accepted.length > 0) {
    result.e2e = await waitForInvoices(request, runId, accepted, (visible) =>
      request.progress?.({sent, accepted: accepted.length, visible}),
    )
    result.ok &&= result.e2e.missing === 0
  }
  return result
}

/**
 * The bucket, checked (created if missing) before the first send, and one upload: PUT, then a
 * presigned GET URL for the public endpoint (valid MINIO_PRESIGN_SECONDS), the event's attachmentUrl.
 */
async function objectStorage(store: ObjectStoreConfig) {
  const client = s3Client(store)
  const publicClient = s3Client(store, 'public')
  try {
    await withRetries(store, () => ensureBucket(client, store.bucket))
  } catch (error) {
    client.destroy()
    publicClient.destroy()
    throw new PocError(`object storage at ${store.endpoint} is not reachable: ${objectStoreError(error)}`, {
      exitCode: ExitCode.unavailable,
      code: 'object_store_unreachable',
      suggestions: ['See its state with: poc status', 'Start it with: poc up --with minio'],
    })
  }
  const {PutObjectCommand} = sdk()
  return {
    upload: async (key: string, body: Buffer): Promise<string> => {
      await client.send(
        new PutObjectCommand({Bucket: store.bucket, Key: key, Body: body, ContentType: 'application/json'}),
      )
      return presignGet(publicClient, store, key)
    },
    close: () => {
      client.destroy()
      publicClient.destroy()
    },
  }
}

interface FiInvoice {
  idempotencyKey?: string
  approvedAt?: string
  projectedAt?: string
}

async function waitForInvoices(
  request: ProduceRequest,
  runId: string,
  accepted: Accepted[],
  progress: (visible: number) => void,
): Promise<E2eResult> {
  const wanted = new Set(accepted.map((a) => a.key))
  const lastAcceptedAt = Math.max(...accepted.map((a) => a.acceptedAt))
  const deadline = Date.now() + request.waitMs
  const invoicesUrl = (limit: number) =>
    `${request.fiUrl}/invoices?keyPrefix=${encodeURIComponent(`${runId}-`)}&limit=${limit}`
  const get = async <T>(url: string): Promise<T | undefined> => {
    try {
      const response = await fetch(url, {signal: AbortSignal.timeout(10_000)})
      return response.ok ? ((await response.json()) as T) : undefined
    } catch {
      // fi restarting: keep polling until the deadline.
      return undefined
    }
  }
  const fetchAll = async (total: number) =>
    (await get<{items: FiInvoice[]}>(invoicesUrl(Math.min(Math.max(total, 1), maxInvoicesPerRead))))?.items ??
    []
  const visibleIn = (invoices: FiInvoice[]) =>
    new Set(invoices.map((i) => i.idempotencyKey).filter((k) => k !== undefined && wanted.has(k))).size
  let invoices: FiInvoice[] = []
  let total = 0
  let allVisibleAt: number | undefined
  for (;;) {
    // Polled as a count (limit=0: fi neither sorts nor sends an invoice); the invoices are read
    // once the count says they are all there.
    total = (await get<{total: number}>(invoicesUrl(0)))?.total ?? total
    const countedAt = Date.now()
    progress(Math.min(total, wanted.size))
    if (total >= wanted.size) {
      invoices = await fetchAll(total)
      if (visibleIn(invoices) >= wanted.size) {
        allVisibleAt = countedAt
        break
      }
    }
    if (Date.now() > deadline || request.signal?.aborted) break
    await delay(100)
  }
  if (allVisibleAt === undefined) invoices = await fetchAll(total)
  const latencies = invoices
    .filter((i) => i.idempotencyKey && wanted.has(i.idempotencyKey) && i.approvedAt && i.projectedAt)
    .map((i) => Date.parse(i.projectedAt as string) - Date.parse(i.approvedAt as string))
  const visible = visibleIn(invoices)
  return {
    visible,
    missing: wanted.size - visible,
    latencyMs: summarize(latencies, 0),
    drainMs: allVisibleAt === undefined ? null : Math.max(allVisibleAt - lastAcceptedAt, 0),
  }
}

/** The most invoices fi answers in one GET /invoices (its `limit`). */
const maxInvoicesPerRead = 100_000

/** One POST on a keep-alive socket of `agent`: the status and the body as text. */
function post(
  agent: http.Agent,
  url: URL,
  headers: Record<string, string>,
  body: string,
): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {...headers, 'content-length': Buffer.byteLength(body)},
        timeout: 30_000,
      },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (text += chunk))
        response.on('end', () => resolve({status: response.statusCode ?? 0, body: text}))
        response.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')))
    req.on('error', reject)
    req.end(body)
  })
}
