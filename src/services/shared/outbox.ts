import {randomUUID} from 'node:crypto'
import {z} from 'zod'
import {envelopeSchema, type Envelope} from '../../contract/envelope.js'
import {JsonLinesLog} from './jsonl-log.js'

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
  // Kept whole: fields beside the envelope (the seed's, on pm's approvals) are sent again after a restart too.
  envelope: envelopeSchema.passthrough(),
  headers: z.record(z.string(), z.string()),
})
// Marking a record sent appends this instead of rewriting the file on every confirm.
const sentLine = z.object({sent: z.string().min(1)})

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
  private log!: JsonLinesLog
  /** Lines in the file that describe sent records. */
  private garbage = 0

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

  /** Load the unsent records and rewrite the file with only them. */
  static async open(file: string, options: OutboxOptions = {}): Promise<Outbox> {
    const {values, skippedLines} = await JsonLinesLog.read(file, 'outbox')
    const {records, invalid} = parseOutbox(values)
    const outbox = new Outbox(
      file,
      records,
      {pending: records.size, skippedLines: skippedLines + invalid},
      options,
    )
    outbox.log = await JsonLinesLog.start(
      file,
      () => {
        outbox.garbage = 0
        return outbox.pending().map((record) => JSON.stringify(record))
      },
      'outbox',
    )
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
    await this.log.append(record, true, () => this.records.set(record.id, record))
    return record
  }

  /** Forget a record the broker confirmed. */
  async markSent(id: string): Promise<void> {
    if (!this.records.delete(id)) return
    this.garbage += 2
    await this.log.append({sent: id}, false)
    if (this.garbage >= this.compactAfter) {
      // Several confirms can cross the threshold together: the first rewrite serves them all.
      await this.log.rewrite(() => this.garbage >= this.compactAfter)
    }
  }

  /** Rewrite the file with the unsent records only (temp file, fsync, rename). */
  async compact(): Promise<void> {
    await this.log.rewrite()
  }

  /** Compacts and releases the file; later calls fail. */
  async close(): Promise<void> {
    await this.log.close()
  }
}

/** Records in file order minus the sent ones; lines that are neither are counted, not fatal. */
function parseOutbox(values: unknown[]): {records: Map<string, OutboxRecord>; invalid: number} {
  const records = new Map<string, OutboxRecord>()
  let invalid = 0
  for (const value of values) {
    const sent = sentLine.safeParse(value)
    if (sent.success) {
      records.delete(sent.data.sent)
      continue
    }
    const record = recordLine.safeParse(value)
    if (record.success) records.set(record.data.id, record.data)
    else invalid++
  }
  return {records, invalid}
}
