import {createHmac, createSecretKey, type KeyObject} from 'node:crypto'
import {mkdir, open, type FileHandle} from 'node:fs/promises'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {z} from 'zod'
import {syncPath} from '../../lib/atomic-file.js'

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

interface Batch {
  lines: string[]
  bytes: number
  firstSeq: number
  lastSeq: number
  lastHash: string
  lastAt: string
  firstEnqueuedAt: number
}

interface Waiter {
  seq: number
  resolve: (durable: WalDurable) => void
  reject: (error: Error) => void
}

const HASH_FIELD = ',"hash":"'
// `,"hash":"` + 64 hex digits + `"}`: what a line has after its hashed body (minus the body's `}`).
const HASH_SUFFIX_LENGTH = HASH_FIELD.length + 64 + 2
const HASH_FIELD_BYTES = Buffer.from(HASH_FIELD)
const CLOSING_BRACE = Buffer.from('}')
const HEX64 = /^[0-9a-f]{64}$/
const NEWLINE = 0x0a
const READ_CHUNK_BYTES = 1 << 20

/**
 * Appends are synchronous and never wait on the disk; a group commit writes what is buffered with
 * one write and one fdatasync, so `whenDurable` resolves only once the record survives a power cut.
 * The records that arrive while a group commit runs share the next one, which takes them all
 * (`maxBatch` only starts a commit early, it does not split one).
 */
export class Wal {
  private readonly key: KeyObject
  private readonly maxWaitUs: number
  private readonly maxBatch: number
  private readonly onFlush: ((flush: WalFlush) => void) | undefined
  private readonly replayed: WalRecord[]

  private nextSeq: number
  private prevHash: string
  private durableSeq: number
  private durableHash: string
  private durableAt: string | null
  private durableRecords: number
  private durableBytes: number

  private buffer: Batch | null = null
  private inFlight: Batch | null = null
  private flushing: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | null = null
  private immediate: NodeJS.Immediate | null = null
  private failure: Error | null = null
  private waiters: Waiter[] = []
  /** performance.now() of the last successful fdatasync. */
  private lastDurableAt = 0
  private closing = false
  private closed: Promise<void> | null = null
  private readonly counters: WalStats = {recordsWritten: 0, bytesWritten: 0, flushes: 0}
  // Many appends share a millisecond; formatting the date once per millisecond is measurably cheaper.
  private isoMs = -1
  private iso = ''

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    options: WalOptions,
    replayed: WalRecord[],
    sizeBytes: number,
  ) {
    this.key = createSecretKey(
      typeof options.hmacKey === 'string' ? Buffer.from(options.hmacKey) : options.hmacKey,
    )
    this.maxWaitUs = options.maxWaitUs ?? DEFAULT_MAX_WAIT_US
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH
    this.onFlush = options.onFlush
    this.replayed = replayed
    const last = replayed.at(-1)
    this.nextSeq = (last?.seq ?? 0) + 1
    this.prevHash = last?.hash ?? GENESIS_HASH
    this.durableSeq = last?.seq ?? 0
    this.durableHash = this.prevHash
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
      return new Wal(file, handle, options, records, keepBytes)
    } catch (error) {
      await handle.close()
      throw new Error(`cannot open the WAL ${file}: ${(error as Error).message}`, {cause: error})
    }
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
    const body = `{"seq":${seq},"at":"${at}","type":${JSON.stringify(type)},"data":${json},"prev":"${this.prevHash}"}`
    const hash = createHmac('sha256', this.key).update(this.prevHash).update(body).digest('hex')
    const line = `${body.slice(0, -1)}${HASH_FIELD}${hash}"}\n`
    this.nextSeq = seq + 1
    this.prevHash = hash

    const enqueuedAt = performance.now()
    let batch = this.buffer
    if (!batch) {
      batch = {
        lines: [],
        bytes: 0,
        firstSeq: seq,
        lastSeq: seq,
        lastHash: hash,
        lastAt: at,
        firstEnqueuedAt: enqueuedAt,
      }
      this.buffer = batch
    }
    batch.lines.push(line)
    batch.bytes += Buffer.byteLength(line)
    batch.lastSeq = seq
    batch.lastHash = hash
    batch.lastAt = at

    if (!this.inFlight) {
      if (batch.lines.length >= this.maxBatch) this.startFlush()
      else if (batch.lines.length === 1) this.scheduleFlush()
    }
    return {seq, at, enqueuedAt}
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
    return (this.buffer?.lines.length ?? 0) + (this.inFlight?.lines.length ?? 0)
  }

  get pendingBytes(): number {
    return (this.buffer?.bytes ?? 0) + (this.inFlight?.bytes ?? 0)
  }

  /** How long the oldest record that is not yet durable has waited (0 if none): backpressure. */
  oldestPendingAgeMs(): number {
    const oldest = this.inFlight ?? this.buffer
    return oldest ? performance.now() - oldest.firstEnqueuedAt : 0
  }

  /** Bytes of the file that are durable. */
  get sizeBytes(): number {
    return this.durableBytes
  }

  /** Totals since open. */
  stats(): WalStats {
    return {...this.counters}
  }

  /** Makes everything appended so far durable (or failed), then releases the file. */
  close(): Promise<void> {
    this.closed ??= this.closeNow()
    return this.closed
  }

  private async closeNow(): Promise<void> {
    this.closing = true
    this.clearTimer()
    while (this.inFlight || this.buffer) {
      if (!this.inFlight) this.startFlush()
      await this.flushing
    }
    await this.handle.close()
  }

  private scheduleFlush(): void {
    const batch = this.buffer
    if (!batch || this.timer || this.immediate) return
    const remainingUs = this.maxWaitUs - (performance.now() - batch.firstEnqueuedAt) * 1000
    if (remainingUs <= 0 || batch.lines.length >= this.maxBatch) {
      this.startFlush()
    } else if (remainingUs < 1000) {
      // Timers have millisecond resolution: the end of this event-loop turn is the closest
      // sub-millisecond deadline, and still gathers everything that arrived in the same turn.
      this.immediate = setImmediate(() => this.onTimer())
    } else {
      this.timer = setTimeout(() => this.onTimer(), remainingUs / 1000)
    }
  }

  private onTimer(): void {
    this.timer = null
    this.immediate = null
    if (!this.inFlight) this.startFlush()
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer)
    if (this.immediate) clearImmediate(this.immediate)
    this.timer = null
    this.immediate = null
  }

  private startFlush(): void {
    const batch = this.buffer
    if (!batch || this.inFlight) return
    this.clearTimer()
    this.buffer = null
    this.inFlight = batch
    this.flushing = this.writeBatch(batch)
  }

  /** Never rejects: a failure is delivered through the waiters and `lastError`. */
  private async writeBatch(batch: Batch): Promise<void> {
    let flush: WalFlush | undefined
    try {
      const bytes = Buffer.from(batch.lines.length === 1 ? batch.lines[0]! : batch.lines.join(''))
      let written = 0
      while (written < bytes.length) {
        const {bytesWritten} = await this.handle.write(bytes, written, bytes.length - written)
        written += bytesWritten
      }
      const syncStart = performance.now()
      await this.handle.datasync()
      const durableAt = performance.now()
      this.durableSeq = batch.lastSeq
      this.durableHash = batch.lastHash
      this.durableAt = batch.lastAt
      this.durableRecords += batch.lines.length
      this.durableBytes += bytes.length
      this.counters.recordsWritten += batch.lines.length
      this.counters.bytesWritten += bytes.length
      this.counters.flushes++
      this.lastDurableAt = durableAt
      this.settleWaiters((waiter) => waiter.resolve({seq: waiter.seq, durableAt}), batch.lastSeq)
      flush = {
        records: batch.lines.length,
        bytes: bytes.length,
        fdatasyncUs: Math.round((durableAt - syncStart) * 1000),
        lastSeq: batch.lastSeq,
        durableAt,
      }
    } catch (cause) {
      this.failure = new Error(
        `cannot write the WAL ${this.file} (seq ${batch.firstSeq}-${batch.lastSeq}): ${(cause as Error).message}`,
        {cause},
      )
      // A reopen must not replay a record whose whenDurable was rejected.
      await this.handle.truncate(this.durableBytes).catch(() => undefined)
    }
    this.inFlight = null
    if (this.failure) {
      const failure = this.failure
      this.settleWaiters((waiter) => waiter.reject(failure), Number.POSITIVE_INFINITY)
      this.buffer = null
    } else if (this.buffer && !this.closing) {
      this.scheduleFlush()
    }
    if (flush) this.onFlush?.(flush)
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
    const hash = createHmac('sha256', this.key)
      .update(prev)
      .update(line.subarray(0, bodyEnd))
      .update(CLOSING_BRACE)
      .digest('hex')
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
