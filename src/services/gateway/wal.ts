import {createSecretKey, type KeyObject} from 'node:crypto'
import {mkdir, open, type FileHandle} from 'node:fs/promises'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {z} from 'zod'
import {MessageChannel, type MessagePort, Worker} from 'node:worker_threads'
import {syncPath} from '../../lib/atomic-file.js'
import type {WalOutboxStatus} from './outbox.js'
import type {FromOutboxWorker, OutboxThreadOptions, OutboxWorkerData} from './outbox-worker.js'
import type {FromWalWorker, ToWalWorker, WalWorkerData} from './wal-worker.js'
import {HASH_FIELD, type WalCommit, lineHash} from './wal-writer.js'

/*
 * The order gateway's write-ahead log: every accepted order and cancel request, one JSON line
 * each, chained by an HMAC so that an edited, removed or reordered line is detected.
 *
 * Line format (stable: auditors and the outbox read it):
 *
 *   {"seq":N,"at":"<ISO 8601>","type":"<type>","data":<JSON>,"prev":"<64 hex>","hash":"<64 hex>"}\n
 *
 * - the keys are written in exactly this order, without spaces; `data` is `JSON.stringify(data)`;
 * - `seq` starts at 1 and increases by 1; `at` is the wall-clock time of the append;
 * - `prev` is the `hash` of the line before (GENESIS_HASH for seq 1);
 * - `hash` = hex(HMAC-SHA256(key, prev ‖ body)), where `prev` is the 64 ASCII hex characters and
 *   `body` is the line's own bytes without `,"hash":"…"`, i.e. `{"seq":…,"prev":"…"}` exactly as
 *   written (UTF-8). Verification hashes the bytes on disk, never a re-serialization, so changing
 *   any byte of a line before its hash field (even whitespace) fails at that line's seq.
 */

/** The `prev` of seq 1. */
export const GENESIS_HASH = '0'.repeat(64)

export const DEFAULT_MAX_WAIT_US = 200
export const DEFAULT_MAX_BATCH = 64

/** The tuning variables of SPEC §4.5, for the gateway to merge into its config schema. */
export const walEnvConfig = z.object({
  AUDIT_FDATASYNC_MAX_WAIT_US: z.coerce.number().int().min(0).default(DEFAULT_MAX_WAIT_US),
  AUDIT_FDATASYNC_MAX_BATCH: z.coerce.number().int().min(1).default(DEFAULT_MAX_BATCH),
})

export type WalRecordType = 'order_accepted' | 'cancel_requested' | (string & {})

export interface WalRecord {
  seq: number
  at: string
  type: WalRecordType
  data: unknown
  prev: string
  hash: string
}

export interface WalFlush {
  records: number
  bytes: number
  fdatasyncUs: number
  /** Every record up to this seq is now durable. */
  lastSeq: number
  /** performance.now() when the fdatasync returned. */
  durableAt: number
}

export interface WalOptions {
  hmacKey: string | Buffer
  /** Longest a record waits in the buffer before its group commit starts. */
  maxWaitUs?: number
  /** A group commit starts as soon as this many records are buffered. */
  maxBatch?: number
  /** After every successful group commit; must not throw (metrics only). */
  onFlush?: (flush: WalFlush) => void
  /** Damage found and repaired on open (a torn last line); the caller logs it. */
  onWarning?: (message: string) => void
  /** Publish what becomes durable, from a thread of its own (the gateway's outbox, outbox-worker.ts). */
  outbox?: OutboxThreadOptions
}

export interface WalDurable {
  seq: number
  /** performance.now() when the fdatasync covering the record returned. */
  durableAt: number
}

export interface WalAppend {
  seq: number
  at: string
  /** performance.now() at the append: `durableAt - enqueuedAt` is the durable-ack latency. */
  enqueuedAt: number
}

export interface WalAnchor {
  /** The latest durable seq (0 when the log is empty) and its hash (GENESIS_HASH then). */
  seq: number
  hash: string
  /** That record's own `at`. */
  at: string | null
  /** Records in the file up to and including it. */
  records: number
}

export type WalVerifyFailure =
  'unparsable' | 'seq gap' | 'prev mismatch' | 'hash mismatch' | 'missing records'

export interface WalVerifyResult {
  ok: boolean
  /** Records with a seq in [fromSeq, fromSeq + limit) that verified. */
  checked: number
  /** The last seq whose chain back to genesis verified (0 if none). */
  lastSeq: number
  error: null | {seq: number; reason: WalVerifyFailure; detail: string}
}

export interface WalStats {
  recordsWritten: number
  bytesWritten: number
  flushes: number
}

/** Records posted to the WAL's thread in one message (one event-loop turn), not yet durable. */
interface Posted {
  lastSeq: number
  records: number
  bytes: number
  lastAt: string
  firstEnqueuedAt: number
}

interface Waiter {
  seq: number
  resolve: (durable: WalDurable) => void
  reject: (error: Error) => void
}

// `,"hash":"` + 64 hex digits + `"}`: what a line has after its hashed body (minus the body's `}`).
const HASH_SUFFIX_LENGTH = HASH_FIELD.length + 64 + 2
const HASH_FIELD_BYTES = Buffer.from(HASH_FIELD)
const CLOSING_BRACE = Buffer.from('}')
const HEX64 = /^[0-9a-f]{64}$/
const NEWLINE = 0x0a
const READ_CHUNK_BYTES = 1 << 20
// What chainLine adds to a record's head: `,"prev":"` 64 hex `","hash":"` 64 hex `"}\n`.
const CHAIN_BYTES = 9 + 64 + 10 + 64 + 3

/** A thread running `module`: its compiled .js under dist/, its source when run from src/ (tests). */
function startWorker(
  module: 'wal-worker' | 'outbox-worker',
  workerData: WalWorkerData | OutboxWorkerData,
  transferList: MessagePort[],
): Worker {
  const source = import.meta.url.endsWith('.ts')
  const url = new URL(`./${module}.${source ? 'ts' : 'js'}`, import.meta.url)
  const options = {workerData, transferList, name: module}
  if (!source) return new Worker(url, options)
  // A worker does not inherit the parent's module hooks: tsx registers its own there.
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}) })`
  return new Worker(boot, {...options, eval: true})
}

/** Resolves on 'ready', rejects on 'open_failed', an error or an exit before it. */
function started(worker: Worker, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    worker.on('message', (message: {kind: string; message?: string}) => {
      if (message.kind === 'ready') resolve()
      else if (message.kind === 'open_failed') reject(new Error(`cannot open ${what}: ${message.message}`))
    })
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`${what}'s thread exited (${code}) while opening`)))
  })
}

/**
 * Appends are synchronous and never wait on the disk: the event loop assigns the seq and formats
 * the record, and posts the records of one turn to the WAL's thread (wal-worker.ts), which
 * chains and hashes them and makes them durable with one write and one fdatasync per group
 * commit, so `whenDurable` resolves only once the record survives a power cut. The records that
 * arrive while a group commit runs share the next one, which takes them all (`maxBatch` only
 * starts a commit early, it does not split one).
 */
export class Wal {
  private readonly key: KeyObject
  private readonly onFlush: ((flush: WalFlush) => void) | undefined
  private readonly replayed: WalRecord[]
  private worker!: Worker
  private outboxWorker: Worker | undefined

  private nextSeq: number
  private durableSeq: number
  private durableHash: string
  private durableAt: string | null
  private durableRecords: number
  private durableBytes: number

  /** Heads appended this turn, posted together at its end. */
  private outgoing: string[] = []
  private outgoingFirstSeq = 0
  private outgoingBytes = 0
  private outgoingFirstAt = 0
  private outgoingLastAt = ''
  private postScheduled = false
  /** Posted and not yet durable, oldest first (consumed from postedHead). */
  private posted: Posted[] = []
  private postedHead = 0
  private pendingCount = 0
  private pendingByteCount = 0
  private failure: Error | null = null
  private waiters: Waiter[] = []
  /** performance.now() when the last group commit was reported durable. */
  private lastDurableAt = 0
  private closing = false
  private closed: Promise<void> | null = null
  private workerClosed!: Promise<void>
  private outboxClosed: Promise<void> = Promise.resolve()
  private outbox: WalOutboxStatus | undefined
  private readonly counters: WalStats = {recordsWritten: 0, bytesWritten: 0, flushes: 0}
  // Many appends share a millisecond; formatting the date once per millisecond is measurably cheaper.
  private isoMs = -1
  private iso = ''
  private readonly typeJson = new Map<string, string>()

  private constructor(
    readonly file: string,
    options: WalOptions,
    replayed: WalRecord[],
    sizeBytes: number,
  ) {
    this.key = createSecretKey(
      typeof options.hmacKey === 'string' ? Buffer.from(options.hmacKey) : options.hmacKey,
    )
    this.onFlush = options.onFlush
    this.replayed = replayed
    const last = replayed.at(-1)
    this.nextSeq = (last?.seq ?? 0) + 1
    this.durableSeq = last?.seq ?? 0
    this.durableHash = last?.hash ?? GENESIS_HASH
    this.durableAt = last?.at ?? null
    this.durableRecords = replayed.length
    this.durableBytes = sizeBytes
  }

  /**
   * Opens (or creates) the log and reads what it holds. A torn last line — no trailing newline,
   * or a last line that is not a record — was never made durable, so it is cut off (reported
   * through `onWarning`). A bad line anywhere else is evidence and stays: `verify` reports it.
   */
  static async open(file: string, options: WalOptions): Promise<Wal> {
    checkOptions(options)
    await mkdir(path.dirname(file), {recursive: true})
    const handle = await open(file, 'a+')
    let wal: Wal
    try {
      // fdatasync covers the file's content, not its name: a new file needs its directory synced.
      await syncPath(path.dirname(file))
      const {records, keepBytes, sizeBytes, dropped} = await replay(handle)
      if (keepBytes < sizeBytes) {
        await handle.truncate(keepBytes)
        await handle.datasync()
        options.onWarning?.(
          `the WAL ${file} ended with ${dropped} torn line(s) (${sizeBytes - keepBytes} bytes) ` +
            'from an interrupted write; they were never durable and were removed',
        )
      }
      wal = new Wal(file, options, records, keepBytes)
    } catch (error) {
      throw new Error(`cannot open the WAL ${file}: ${(error as Error).message}`, {cause: error})
    } finally {
      await handle.close()
    }
    await wal.start(options)
    return wal
  }

  private async start(options: WalOptions): Promise<void> {
    const key = typeof options.hmacKey === 'string' ? Buffer.from(options.hmacKey) : options.hmacKey
    // The outbox's thread hears of each commit from the WAL's directly, not through this loop.
    const channel = options.outbox ? new MessageChannel() : undefined
    const worker = startWorker(
      'wal-worker',
      {
        file: this.file,
        key: new Uint8Array(key),
        prevHash: this.durableHash,
        lastSeq: this.durableSeq,
        durableBytes: this.durableBytes,
        maxWaitUs: options.maxWaitUs ?? DEFAULT_MAX_WAIT_US,
        maxBatch: options.maxBatch ?? DEFAULT_MAX_BATCH,
        ...(channel ? {durable: channel.port1} : {}),
      },
      channel ? [channel.port1] : [],
    )
    this.worker = worker
    this.workerClosed = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    const opened = [started(worker, `the WAL ${this.file}`)]
    if (options.outbox && channel) {
      const outbox = startWorker(
        'outbox-worker',
        {...options.outbox, walFile: this.file, durableBytes: this.durableBytes, durable: channel.port2},
        [channel.port2],
      )
      this.outboxWorker = outbox
      this.outboxClosed = new Promise<void>((resolve) => outbox.once('exit', () => resolve()))
      outbox.on('message', (message: FromOutboxWorker) => {
        if (message.kind === 'status') this.outbox = message.status
      })
      outbox.on('error', (error) => {
        // Orders stay durable without it; /health shows the outbox stopped.
        this.outbox = {...(this.outbox as WalOutboxStatus), connected: false, lastError: error.message}
      })
      opened.push(started(outbox, `the outbox of ${this.file}`))
    }
    worker.on('message', (message: FromWalWorker) => {
      if (message.kind === 'flushed') this.onCommitted(message)
      else if (message.kind === 'failed') {
        this.fail(
          new Error(
            `cannot write the WAL ${this.file} (seq ${message.firstSeq}-${message.lastSeq}): ${message.message}`,
          ),
        )
      }
    })
    worker.on('error', (error) => {
      this.fail(new Error(`the WAL ${this.file}'s thread failed: ${error.message}`, {cause: error}))
    })
    worker.once('exit', (code) => {
      if (!this.closing) this.fail(new Error(`the WAL ${this.file}'s thread exited (${code})`))
    })
    try {
      await Promise.all(opened)
    } catch (error) {
      await Promise.all([worker.terminate(), this.outboxWorker?.terminate()])
      throw error
    }
    // Like an open file, an idle log does not keep the process alive; records on their way do.
    worker.unref()
    this.outboxWorker?.unref()
  }

  /** The records the file held when it was opened, in file order (not those appended since). */
  records(): readonly WalRecord[] {
    return this.replayed
  }

  /**
   * Assigns the next seq and buffers the record; never waits on the disk. Throws if `data` is
   * not JSON, if the log is closed, or if an earlier write failed: the chain would then hang on
   * records that are not on disk, so the log stops until it is reopened (see `lastError`).
   */
  append(type: WalRecordType, data: unknown): WalAppend {
    if (this.failure) {
      throw new Error(
        `the WAL ${this.file} stopped after a failed write (${this.failure.message}); ` +
          'fix the disk and restart the gateway to reopen it',
        {cause: this.failure},
      )
    }
    if (this.closing) throw new Error(`the WAL ${this.file} is closed`)
    const json = JSON.stringify(data)
    if (json === undefined) throw new TypeError(`a WAL record's data must be JSON, got ${typeof data}`)
    const seq = this.nextSeq
    const now = Date.now()
    if (now !== this.isoMs) {
      this.isoMs = now
      this.iso = new Date(now).toISOString()
    }
    const at = this.iso
    let typeJson = this.typeJson.get(type)
    if (typeJson === undefined) this.typeJson.set(type, (typeJson = JSON.stringify(type)))
    // The line without prev and hash, which the WAL's thread adds (chainLine in wal-writer.ts).
    const head = `{"seq":${seq},"at":"${at}","type":${typeJson},"data":${json}`
    this.nextSeq = seq + 1

    const enqueuedAt = performance.now()
    if (this.outgoing.length === 0) {
      this.outgoingFirstSeq = seq
      this.outgoingFirstAt = enqueuedAt
    }
    this.outgoing.push(head)
    const bytes = Buffer.byteLength(head) + CHAIN_BYTES
    this.outgoingBytes += bytes
    this.outgoingLastAt = at
    this.pendingCount++
    this.pendingByteCount += bytes
    if (!this.postScheduled) {
      this.postScheduled = true
      setImmediate(this.post)
    }
    return {seq, at, enqueuedAt}
  }

  /** Sends this turn's records to the WAL's thread: one message, however many orders. */
  private readonly post = (): void => {
    this.postScheduled = false
    if (this.outgoing.length === 0 || this.failure) return
    const heads = this.outgoing
    this.worker.postMessage({
      kind: 'append',
      firstSeq: this.outgoingFirstSeq,
      heads,
      enqueuedAt: performance.timeOrigin + this.outgoingFirstAt,
    } satisfies ToWalWorker)
    this.posted.push({
      lastSeq: this.outgoingFirstSeq + heads.length - 1,
      records: heads.length,
      bytes: this.outgoingBytes,
      lastAt: this.outgoingLastAt,
      firstEnqueuedAt: this.outgoingFirstAt,
    })
    this.outgoing = []
    this.outgoingBytes = 0
    this.worker.ref()
  }

  /**
   * Resolves once record `seq` is durable; rejects if its batch fails (see `lastError`). Asked for
   * only by callers that want a promise: the gateway follows `onFlush`'s `lastSeq` instead, so the
   * thousands of orders a second allocate none.
   */
  whenDurable(seq: number): Promise<WalDurable> {
    if (!Number.isInteger(seq) || seq < 1 || seq >= this.nextSeq) {
      return Promise.reject(new RangeError(`seq ${seq} was not appended to the WAL ${this.file}`))
    }
    if (seq <= this.durableSeq) return Promise.resolve({seq, durableAt: this.lastDurableAt})
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => this.waiters.push({seq, resolve, reject}))
  }

  /** The latest durable record: what an auditor writes down to detect a later rewrite of the file. */
  anchor(): WalAnchor {
    return {seq: this.durableSeq, hash: this.durableHash, at: this.durableAt, records: this.durableRecords}
  }

  /** The outbox's state as its thread last reported it (Wal.open with `outbox`), else undefined. */
  outboxStatus(): WalOutboxStatus | undefined {
    return this.outbox
  }

  /**
   * Re-reads the durable part of the file and recomputes the chain from genesis, stopping after
   * seq fromSeq + limit - 1. Records before fromSeq are verified too (the range is only as good
   * as its link to genesis) but not counted, and a break there is reported. Appended records not
   * yet durable are not read; a file that ends before the durable seq fails with `missing records`.
   */
  async verify(options: {fromSeq?: number; limit?: number} = {}): Promise<WalVerifyResult> {
    const fromSeq = options.fromSeq ?? 1
    const limit = options.limit ?? Number.POSITIVE_INFINITY
    if (!Number.isInteger(fromSeq) || fromSeq < 1) throw new RangeError('fromSeq must be an integer ≥ 1')
    if (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit < 1)) {
      throw new RangeError('limit must be an integer ≥ 1')
    }
    const endSeq = fromSeq + limit
    const durableSeq = this.durableSeq
    const durableBytes = this.durableBytes

    const walk: {expected: number; prev: string; checked: number; error: WalVerifyResult['error']} = {
      expected: 1,
      prev: GENESIS_HASH,
      checked: 0,
      error: null,
    }
    const handle = await open(this.file, 'r')
    try {
      await scanLines(handle, durableBytes, (line, _start, terminated) => {
        // A line cut short by an external truncation is caught below as missing records.
        if (!terminated || walk.expected >= endSeq) return false
        const failure = this.checkLine(line, walk.expected, walk.prev)
        if (typeof failure === 'string') {
          walk.error = {seq: walk.expected, reason: reasonOf(failure), detail: failure}
          return false
        }
        walk.prev = failure.hash
        if (walk.expected >= fromSeq) walk.checked++
        walk.expected++
        return true
      })
    } finally {
      await handle.close()
    }
    const lastSeq = walk.expected - 1
    if (!walk.error && lastSeq < durableSeq && walk.expected < endSeq) {
      walk.error = {
        seq: walk.expected,
        reason: 'missing records',
        detail: `missing records: the file ends after seq ${lastSeq} but seq ${durableSeq} was made durable`,
      }
    }
    return {ok: walk.error === null, checked: walk.checked, lastSeq, error: walk.error}
  }

  /** Why the last group commit failed; the log accepts no appends after one (health reports it). */
  get lastError(): Error | null {
    return this.failure
  }

  /** Appended records not yet durable (buffered or being written). */
  get pendingRecords(): number {
    return this.pendingCount
  }

  get pendingBytes(): number {
    return this.pendingByteCount
  }

  /** How long the oldest record that is not yet durable has waited (0 if none): backpressure. */
  oldestPendingAgeMs(): number {
    if (this.pendingCount === 0) return 0
    const oldest = this.posted[this.postedHead]?.firstEnqueuedAt ?? this.outgoingFirstAt
    return performance.now() - oldest
  }

  /** Bytes of the file that are durable. */
  get sizeBytes(): number {
    return this.durableBytes
  }

  /** Totals since open. */
  stats(): WalStats {
    return {...this.counters}
  }

  /** Makes everything appended so far durable (or failed), stops the thread, releases the file. */
  close(): Promise<void> {
    this.closed ??= this.closeNow()
    return this.closed
  }

  private async closeNow(): Promise<void> {
    this.closing = true
    this.post()
    this.worker.ref()
    this.worker.postMessage({kind: 'close'} satisfies ToWalWorker)
    await this.workerClosed
    // Then the outbox, which saves how far it got.
    this.outboxWorker?.ref()
    this.outboxWorker?.postMessage({kind: 'close'})
    await this.outboxClosed
    // A thread that died took its records with it: they were never durable.
    if (this.pendingCount > 0 && !this.failure) this.fail(new Error(`the WAL ${this.file} closed early`))
  }

  private onCommitted(commit: WalCommit): void {
    const durableAt = performance.now()
    let lastAt = this.durableAt
    while (this.postedHead < this.posted.length) {
      const batch = this.posted[this.postedHead] as Posted
      if (batch.lastSeq > commit.lastSeq) break
      this.postedHead++
      this.pendingCount -= batch.records
      this.pendingByteCount -= batch.bytes
      lastAt = batch.lastAt
    }
    if (this.postedHead === this.posted.length) {
      this.posted = []
      this.postedHead = 0
      if (!this.closing) this.worker.unref()
    }
    this.durableSeq = commit.lastSeq
    this.durableHash = commit.lastHash
    this.durableAt = lastAt
    this.durableRecords += commit.records
    this.durableBytes += commit.bytes
    this.counters.recordsWritten += commit.records
    this.counters.bytesWritten += commit.bytes
    this.counters.flushes++
    this.lastDurableAt = durableAt
    this.settleWaiters((waiter) => waiter.resolve({seq: waiter.seq, durableAt}), commit.lastSeq)
    this.onFlush?.({
      records: commit.records,
      bytes: commit.bytes,
      fdatasyncUs: commit.fdatasyncUs,
      lastSeq: commit.lastSeq,
      durableAt,
    })
  }

  /** The log stops: every record not yet durable fails with `error`. */
  private fail(error: Error): void {
    if (this.failure) return
    this.failure = error
    this.outgoing = []
    this.posted = []
    this.postedHead = 0
    this.pendingCount = 0
    this.pendingByteCount = 0
    this.settleWaiters((waiter) => waiter.reject(error), Number.POSITIVE_INFINITY)
  }

  /** Settles, in seq order, the waiters of every record up to `lastSeq`. */
  private settleWaiters(settle: (waiter: Waiter) => void, lastSeq: number): void {
    if (this.waiters.length === 0) return
    const due = this.waiters.filter((waiter) => waiter.seq <= lastSeq).sort((a, b) => a.seq - b.seq)
    this.waiters = this.waiters.filter((waiter) => waiter.seq > lastSeq)
    for (const waiter of due) settle(waiter)
  }

  /** The record if the line verifies as seq `expected` after `prev`, else why not. */
  private checkLine(line: Buffer, expected: number, prev: string): WalRecord | string {
    const record = parseRecord(line)
    if (!record) return 'unparsable: not a JSON WAL record'
    if (record.seq !== expected) return `seq gap: expected seq ${expected}, found ${record.seq}`
    if (record.prev !== prev) return 'prev mismatch: prev is not the hash of the line before'
    const bodyEnd = line.length - HASH_SUFFIX_LENGTH
    const canonical =
      bodyEnd > 0 &&
      line.subarray(bodyEnd, bodyEnd + HASH_FIELD_BYTES.length).equals(HASH_FIELD_BYTES) &&
      line.toString('latin1', bodyEnd + HASH_FIELD_BYTES.length, line.length - 2) === record.hash
    if (!canonical) return 'hash mismatch: the hash field is not where the format puts it'
    const hash = lineHash(this.key, prev, line.subarray(0, bodyEnd), CLOSING_BRACE)
    if (hash !== record.hash) return 'hash mismatch: the line is not what was written'
    return record
  }
}

function reasonOf(failure: string): WalVerifyFailure {
  return failure.slice(0, failure.indexOf(':')) as WalVerifyFailure
}

function checkOptions(options: WalOptions): void {
  if (options.hmacKey.length === 0) throw new Error('the WAL needs a non-empty HMAC key (AUDIT_HMAC_KEY)')
  const {maxWaitUs, maxBatch} = options
  if (maxWaitUs !== undefined && !(Number.isFinite(maxWaitUs) && maxWaitUs >= 0)) {
    throw new RangeError(`maxWaitUs must be a number ≥ 0, got ${maxWaitUs}`)
  }
  if (maxBatch !== undefined && !(Number.isInteger(maxBatch) && maxBatch >= 1)) {
    throw new RangeError(`maxBatch must be an integer ≥ 1, got ${maxBatch}`)
  }
}

function parseRecord(line: Buffer): WalRecord | null {
  let value: unknown
  try {
    value = JSON.parse(line.toString('utf8'))
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const record = value as Partial<WalRecord>
  const valid =
    Number.isSafeInteger(record.seq) &&
    (record.seq as number) >= 1 &&
    typeof record.at === 'string' &&
    typeof record.type === 'string' &&
    'data' in record &&
    typeof record.prev === 'string' &&
    HEX64.test(record.prev) &&
    typeof record.hash === 'string' &&
    HEX64.test(record.hash)
  return valid ? (record as WalRecord) : null
}

interface Replay {
  records: WalRecord[]
  /** Where the file ends once a torn tail is cut off. */
  keepBytes: number
  sizeBytes: number
  dropped: number
}

async function replay(handle: FileHandle): Promise<Replay> {
  // fstat's size bounds the read, which also keeps a device such as /dev/full from reading forever.
  const {size} = await handle.stat()
  const scan = {records: [] as WalRecord[], keepBytes: 0, lastLineStart: 0, lastLineBad: false, torn: false}
  await scanLines(handle, size, (line, start, terminated) => {
    if (!terminated) {
      scan.torn = true
      return false
    }
    const record = parseRecord(line)
    if (record) scan.records.push(record)
    scan.lastLineStart = start
    scan.lastLineBad = !record
    scan.keepBytes = start + line.length + 1
    return true
  })
  let {keepBytes} = scan
  let dropped = scan.torn ? 1 : 0
  if (scan.lastLineBad) {
    keepBytes = scan.lastLineStart
    dropped++
  }
  return {records: scan.records, keepBytes, sizeBytes: size, dropped}
}

/**
 * Calls `visit` with each line of the first `end` bytes (without its newline) and where it
 * starts, reading a chunk at a time; the last line has `terminated` false if no newline follows.
 * `visit` must not keep the buffer, and returns false to stop.
 */
async function scanLines(
  handle: FileHandle,
  end: number,
  visit: (line: Buffer, start: number, terminated: boolean) => boolean,
): Promise<void> {
  let carry = Buffer.alloc(0)
  let carryStart = 0
  let position = 0
  while (position < end) {
    const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, end - position))
    const {bytesRead} = await handle.read(chunk, 0, chunk.length, position)
    if (bytesRead === 0) break
    const fresh = chunk.subarray(0, bytesRead)
    const data = carry.length > 0 ? Buffer.concat([carry, fresh]) : fresh
    const dataStart = carry.length > 0 ? carryStart : position
    position += bytesRead
    let from = 0
    for (let newline = data.indexOf(NEWLINE); newline !== -1; newline = data.indexOf(NEWLINE, from)) {
      if (!visit(data.subarray(from, newline), dataStart + from, true)) return
      from = newline + 1
    }
    carry = data.subarray(from)
    carryStart = dataStart + from
  }
  if (carry.length > 0) visit(carry, carryStart, false)
}
