import {randomUUID} from 'node:crypto'
import {mkdir, open, readFile, type FileHandle} from 'node:fs/promises'
import path from 'node:path'
import {z} from 'zod'
import {writeFileAtomic} from '../../lib/atomic-file.js'
import {envelopeSchema, type Envelope} from './envelope.js'

/** One accepted publish, kept until the broker has confirmed it. */
export interface OutboxRecord {
  id: string
  exchange: string
  routingKey: string
  envelope: Envelope<object>
  headers: Record<string, string>
}

export interface OutboxOptions {
  /** Rewrite the file once this many lines describe records that were already sent. */
  compactAfter?: number
}

export interface OutboxRecovery {
  /** Unsent records found on open. */
  pending: number
  /** Lines that could not be read: a torn last line, or data written after the last fsync. */
  skippedLines: number
}

const recordLine = z.object({
  id: z.string().min(1),
  exchange: z.string(),
  routingKey: z.string(),
  envelope: envelopeSchema,
  headers: z.record(z.string(), z.string()),
})
// Marking a record sent appends this instead of rewriting the file on every confirm.
const sentLine = z.object({sent: z.string().min(1)})

interface QueuedWrite {
  line: string
  durable: boolean
  /** Runs once the line is written (and fsynced when durable), before any later file operation. */
  commit?: () => void
  resolve: () => void
  reject: (error: Error) => void
}

/**
 * A durable outbox: an append-only JSON-lines file. An append resolves only after its line is
 * fsynced, so a caller told "accepted" survives a kill -9 or a power cut. Concurrent appends
 * share one fsync (group commit) and keep their call order, which is the order they are sent in.
 *
 * Lines: `{id, exchange, routingKey, envelope, headers}` for a record, `{sent: id}` once the
 * broker confirmed it. Sent marks are not fsynced: losing one only means the record is sent
 * again, which consumers deduplicate. Compaction rewrites the file with the unsent records only.
 */
export class Outbox {
  readonly file: string
  readonly recovery: OutboxRecovery
  private readonly records: Map<string, OutboxRecord>
  private readonly compactAfter: number
  private handle: FileHandle | undefined
  private queue: QueuedWrite[] = []
  private writing: Promise<void> = Promise.resolve()
  private writeScheduled = false
  /** Lines in the file that describe sent records. */
  private garbage = 0
  /** A failed write may have left a partial line: rewrite the file before appending again. */
  private damaged = false
  private closed = false

  private constructor(
    file: string,
    records: Map<string, OutboxRecord>,
    recovery: OutboxRecovery,
    options: OutboxOptions,
  ) {
    this.file = file
    this.records = records
    this.recovery = recovery
    this.compactAfter = options.compactAfter ?? 1000
  }

  /**
   * Load the unsent records and rewrite the file with only them: this also drops a torn last
   * line, which a later append would otherwise glue onto.
   */
  static async open(file: string, options: OutboxOptions = {}): Promise<Outbox> {
    await mkdir(path.dirname(file), {recursive: true})
    let text = ''
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`cannot read the outbox ${file}: ${(error as Error).message}`, {cause: error})
      }
    }
    const {records, skippedLines} = parseOutbox(text)
    const outbox = new Outbox(file, records, {pending: records.size, skippedLines}, options)
    await outbox.rewrite()
    return outbox
  }

  get depth(): number {
    return this.records.size
  }

  /** Unsent records, oldest first. */
  pending(): OutboxRecord[] {
    return [...this.records.values()]
  }

  has(id: string): boolean {
    return this.records.has(id)
  }

  /** Resolves once the record is on disk (fsynced); rejects if it could not be made durable. */
  async append(entry: Omit<OutboxRecord, 'id'>): Promise<OutboxRecord> {
    const record: OutboxRecord = {id: randomUUID(), ...entry}
    // What cannot be read back on open would be lost there: refuse it now, while the caller can know.
    const check = recordLine.safeParse(record)
    if (!check.success) {
      const problems = check.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      throw new Error(`refusing an outbox record that could not be reloaded: ${problems.join('; ')}`)
    }
    // Only a durable record becomes pending, so nothing is sent that a restart would not replay.
    await this.enqueue(`${JSON.stringify(record)}\n`, true, () => this.records.set(record.id, record))
    return record
  }

  /** Forget a record the broker confirmed. */
  async markSent(id: string): Promise<void> {
    if (!this.records.delete(id)) return
    this.garbage += 2
    await this.enqueue(`${JSON.stringify({sent: id})}\n`, false)
    if (this.garbage >= this.compactAfter) {
      // Several confirms can cross the threshold together: the first rewrite serves them all.
      await this.serialized(async () => {
        if (this.garbage >= this.compactAfter) await this.rewrite()
      })
    }
  }

  /** Rewrite the file with the unsent records only (temp file, fsync, rename). */
  async compact(): Promise<void> {
    await this.serialized(async () => {
      await this.rewrite()
    })
  }

  /** Compacts and releases the file; later calls fail. */
  async close(): Promise<void> {
    if (this.closed) return
    await this.compact()
    this.closed = true
    await this.serialized(async () => {
      await this.handle?.close()
      this.handle = undefined
    })
  }

  private enqueue(line: string, durable: boolean, commit?: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({line, durable, commit, resolve, reject})
      if (this.writeScheduled) return
      this.writeScheduled = true
      void this.serialized(() => this.writeQueued())
    })
  }

  /** Runs file operations one at a time; an operation's failure is reported to its callers only. */
  private serialized(operation: () => Promise<void>): Promise<void> {
    const result = this.writing.then(operation)
    this.writing = result.catch(() => undefined)
    return result
  }

  private async writeQueued(): Promise<void> {
    this.writeScheduled = false
    const batch = this.queue
    this.queue = []
    try {
      if (this.closed) throw new Error('it is closed')
      const handle = this.damaged || !this.handle ? await this.rewrite() : this.handle
      await handle.appendFile(batch.map((w) => w.line).join(''))
      if (batch.some((w) => w.durable)) await handle.datasync()
      for (const write of batch) write.commit?.()
      for (const write of batch) write.resolve()
    } catch (error) {
      this.damaged = !this.closed
      const failure = new Error(`cannot append to the outbox ${this.file}: ${(error as Error).message}`, {
        cause: error,
      })
      for (const write of batch) write.reject(failure)
    }
  }

  private async rewrite(): Promise<FileHandle> {
    if (this.closed) throw new Error(`the outbox ${this.file} is closed`)
    const lines = this.pending().map((record) => `${JSON.stringify(record)}\n`)
    await this.handle?.close()
    this.handle = undefined
    await writeFileAtomic(this.file, lines.join(''))
    // The old handle points at the replaced file: appends must go to the new one.
    const handle = await open(this.file, 'a')
    this.handle = handle
    this.garbage = 0
    this.damaged = false
    return handle
  }
}

/** Records in file order minus the sent ones; unreadable lines are counted, not fatal. */
function parseOutbox(text: string): {records: Map<string, OutboxRecord>; skippedLines: number} {
  const records = new Map<string, OutboxRecord>()
  let skippedLines = 0
  const lines = text.split('\n')
  // What follows the last newline was never completely written.
  const torn = lines.pop()
  if (torn) skippedLines++
  for (const line of lines) {
    if (line.trim() === '') continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      skippedLines++
      continue
    }
    const sent = sentLine.safeParse(value)
    if (sent.success) {
      records.delete(sent.data.sent)
      continue
    }
    const record = recordLine.safeParse(value)
    if (record.success) records.set(record.data.id, record.data)
    else skippedLines++
  }
  return {records, skippedLines}
}
