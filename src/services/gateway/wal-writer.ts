import {createHmac, type KeyObject} from 'node:crypto'
import {fdatasyncSync, ftruncateSync, writeSync} from 'node:fs'
import {performance} from 'node:perf_hooks'

/*
 * The WAL's group commit as it runs on its own thread (wal-worker.ts): it completes each line
 * the event loop formatted (wal.ts) with the chain's `prev`, the HMAC and the newline, and
 * writes and fdatasyncs a batch with blocking calls, which is what a thread of its own is for.
 * Synchronous and free of messaging, so a test drives it directly.
 */

export const HASH_FIELD = ',"hash":"'
const PREV_FIELD = ',"prev":"'

/**
 * The line of a record whose head — `{"seq":…,"at":…,"type":…,"data":…`, everything before
 * `prev` — is `head`, chained after `prev`: the format wal.ts documents, byte for byte.
 */
export function chainLine(key: KeyObject, prev: string, head: string): {line: string; hash: string} {
  const hash = lineHash(key, prev, `${head}${PREV_FIELD}${prev}"}`)
  return {line: `${head}${PREV_FIELD}${prev}"${HASH_FIELD}${hash}"}\n`, hash}
}

/**
 * A line's hash: HMAC-SHA256 over the previous line's hash, then the line's body (its bytes
 * without `,"hash":"…"`, closing brace included), given in parts. Writing and verifying both use it.
 */
export function lineHash(key: KeyObject, prev: string, ...body: Array<string | Uint8Array>): string {
  const hmac = createHmac('sha256', key).update(prev)
  for (const part of body) hmac.update(part)
  return hmac.digest('hex')
}

export interface WalCommit {
  records: number
  bytes: number
  fdatasyncUs: number
  lastSeq: number
  lastHash: string
}

/** Thrown by `commit` after a failed write or fdatasync; the writer accepts nothing after it. */
export class WalWriteError extends Error {
  constructor(
    readonly firstSeq: number,
    readonly lastSeq: number,
    cause: Error,
  ) {
    super(cause.message, {cause})
  }
}

export class WalGroupWriter {
  private lines: string[] = []
  private firstSeq = 0
  private failed = false

  constructor(
    private readonly fd: number,
    private readonly key: KeyObject,
    private prev: string,
    private lastSeq: number,
    /** Bytes of the file that are durable. */
    public durableBytes: number,
  ) {}

  /** Records buffered for the next commit. */
  get buffered(): number {
    return this.lines.length
  }

  /** Chains the heads of records firstSeq, firstSeq + 1, … (they must follow the last one added). */
  add(firstSeq: number, heads: readonly string[]): void {
    if (this.failed) return
    if (firstSeq !== this.lastSeq + 1) {
      throw new Error(`WAL records out of order: seq ${firstSeq} after seq ${this.lastSeq}`)
    }
    if (this.lines.length === 0) this.firstSeq = firstSeq
    for (const head of heads) {
      const {line, hash} = chainLine(this.key, this.prev, head)
      this.lines.push(line)
      this.prev = hash
    }
    this.lastSeq += heads.length
  }

  /** One write and one fdatasync for everything buffered; undefined when nothing is. */
  commit(): WalCommit | undefined {
    if (this.failed || this.lines.length === 0) return undefined
    const lines = this.lines
    this.lines = []
    const bytes = Buffer.from(lines.length === 1 ? (lines[0] as string) : lines.join(''))
    try {
      let written = 0
      while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written)
      const syncStart = performance.now()
      fdatasyncSync(this.fd)
      const fdatasyncUs = Math.round((performance.now() - syncStart) * 1000)
      this.durableBytes += bytes.length
      return {
        records: lines.length,
        bytes: bytes.length,
        fdatasyncUs,
        lastSeq: this.lastSeq,
        lastHash: this.prev,
      }
    } catch (cause) {
      this.failed = true
      // A reopen must not replay a record whose durability was refused.
      try {
        ftruncateSync(this.fd, this.durableBytes)
      } catch {
        // A device such as /dev/full cannot be truncated; nothing of it is replayed anyway.
      }
      throw new WalWriteError(this.firstSeq, this.lastSeq, cause as Error)
    }
  }
}
