import {readFile, rename} from 'node:fs/promises'
import {z} from 'zod'
import {JsonLinesLog} from '../shared/jsonl-log.js'
import type {Logger} from '../shared/logger.js'
import {StateFile} from '../shared/state-file.js'
import {type InvoiceLink, linkInvoice, normalizeState, type PmState} from './domain.js'

export interface PmStoreOptions {
  /** Write a snapshot once the journal holds this many links (or as many as there are invoices, if more). */
  compactAfter?: number
}

/** A journal line: one invoice link, numbered; `at` is the time it was linked. */
const linkLine = z.object({
  seq: z.number().int().positive(),
  link: z
    .object({invoiceId: z.string().min(1), timesheetId: z.string().min(1), status: z.string()})
    .passthrough()
    .transform((link) => link as unknown as InvoiceLink),
  at: z.string(),
})

/** The journal beside a state file: `pm-poc-state.json` → `pm-poc-state.journal.jsonl`. */
export function journalFileOf(file: string): string {
  return `${file.replace(/\.json$/, '')}.journal.jsonl`
}

/**
 * pm's state (PM_STATE_FILE): a snapshot `{projects, timesheets, invoices, events, …,
 * journalSeq}` written whole and atomically (see StateFile), plus a journal of the invoice links
 * made since (`<name>.journal.jsonl`, one fsynced line each, group commit; see JsonLinesLog).
 *
 * An invoice link (fi.invoice.generated, the backbone's hot path) appends one line instead of
 * rewriting every invoice ever linked; any other change writes the snapshot, as before. Each
 * link has the next `seq`, never reused; the snapshot records the last one it holds, so on open
 * the links after it are replayed on it, and a journal line the snapshot covers is dropped once
 * that snapshot is on disk. Once the journal holds as many links as the last snapshot held
 * invoices (at least `compactAfter`), a snapshot is written: the bytes written stay proportional
 * to the links made, however long the history.
 *
 * A state file without `journalSeq` (written by an older pm) loads as it is: it covers nothing
 * of a journal, and there is none. Starts from the seed data; an unreadable snapshot is moved
 * aside, and its journal with it (its links belong to that snapshot).
 */
export class PmStore {
  /** The last link's seq: in memory, so in the next snapshot. */
  private seq = 0
  /** The journal's lines on disk (fsynced), for its rewrite. */
  private lines: Array<{seq: number; value: object}> = []
  /** The last append, settled: a link found already made waits for it before it is acknowledged. */
  private lastAppend: Promise<void> = Promise.resolve()
  /** The highest seq whose journal line failed: until a snapshot holds it, it is only in memory. */
  private unsavedSeq = 0
  private stateFile!: StateFile<PmState>
  private journal!: JsonLinesLog
  /** The invoice ids in the state, built when first needed after a change other than a link. */
  private invoiceIds: Set<string> | undefined
  private checkpoint: Promise<void> | undefined
  private journalError: string | undefined
  private readonly compactAfter: number
  /** Invoices in the last snapshot written: its size, which the journal may grow to before the next. */
  private snapshotInvoices = 0

  private constructor(
    private readonly logger: Logger,
    options: PmStoreOptions,
  ) {
    this.compactAfter = options.compactAfter ?? 10_000
  }

  static async open(
    file: string,
    seedFile: string,
    logger: Logger,
    options: PmStoreOptions = {},
  ): Promise<PmStore> {
    const store = new PmStore(logger, options)
    let snapshotSeq: number | undefined
    store.stateFile = await StateFile.open({
      file,
      label: 'pm state',
      validate: (value) => {
        const state = asState(value)
        if (state) snapshotSeq = journalSeqOf(value)
        return state
      },
      initial: () => seed(seedFile),
      logger,
      encode: (state) => ({...state, journalSeq: store.seq}),
      written: (encoded) => store.snapshotWritten(encoded as PmState & {journalSeq: number}),
    })
    store.snapshotInvoices = store.current.invoices.length
    const journalFile = journalFileOf(file)
    const {values, skippedLines} = await JsonLinesLog.read(journalFile, 'pm journal')
    if (snapshotSeq === undefined) {
      // No snapshot was read: the links of a journal beside it were made on another state.
      if (values.length > 0) {
        const aside = `${journalFile}.orphan-${Date.now()}`
        await rename(journalFile, aside)
        logger.warn({aside}, 'pm journal without its state file; moved aside, not replayed')
      }
    } else {
      store.seq = snapshotSeq
      store.replay(values, snapshotSeq, skippedLines)
    }
    store.journal = await JsonLinesLog.start(
      journalFile,
      () => store.lines.map((l) => JSON.stringify(l.value)),
      'pm journal',
    )
    return store
  }

  get current(): Readonly<PmState> {
    return this.stateFile.current
  }

  async health(): Promise<{writable: boolean; file: string; error?: string}> {
    const state = await this.stateFile.health()
    if (!state.writable || this.journalError === undefined) return state
    return {writable: false, file: this.journal.file, error: this.journalError}
  }

  /** Apply a change and persist it (a snapshot); resolves only when the new state is on disk. */
  mutate<T>(change: (state: PmState) => T): Promise<T> {
    this.invoiceIds = undefined
    return this.stateFile.mutate(change)
  }

  /**
   * Links an invoice fi announced (false when it is linked already: a redelivery) and journals
   * it; resolves once the link is on disk.
   */
  async link(invoice: InvoiceLink, now: Date): Promise<boolean> {
    const ids = this.indexedIds()
    if (!linkInvoice(this.stateFile.current as PmState, invoice, now, (id) => ids.has(id))) {
      // Linked by an earlier delivery: acknowledged only once that link is on disk too.
      await this.lastAppend
      if (this.unsavedSeq > 0) await this.stateFile.persist()
      return false
    }
    ids.add(invoice.invoiceId)
    const seq = ++this.seq
    const value = {seq, link: invoice, at: now.toISOString()}
    const appended = this.journal.append(value, true, () => this.lines.push({seq, value}))
    this.lastAppend = appended.catch(() => undefined)
    try {
      await appended
      this.journalError = undefined
    } catch (error) {
      this.journalError = (error as Error).message
      this.unsavedSeq = Math.max(this.unsavedSeq, seq)
      this.logger.error({err: error, file: this.journal.file}, this.journalError)
      // Applied in memory already: a snapshot holds it, or the event is refused and redelivered.
      await this.stateFile.persist()
      return true
    }
    if (this.lines.length >= Math.max(this.compactAfter, this.snapshotInvoices)) {
      this.checkpoint ??= this.stateFile
        .persist()
        .catch((error: unknown) =>
          this.logger.warn({err: error}, 'pm snapshot failed; the journal keeps the links'),
        )
        .finally(() => (this.checkpoint = undefined))
    }
    return true
  }

  /** Back to the seed data (POST /admin/reset, poc reset). */
  async reset(seedFile: string): Promise<void> {
    const fresh = await seed(seedFile)
    this.invoiceIds = undefined
    await this.stateFile.replace(fresh)
  }

  /** Releases the journal (tests; the service's process just ends). */
  async close(): Promise<void> {
    await this.checkpoint
    await this.journal.close()
  }

  private indexedIds(): Set<string> {
    this.invoiceIds ??= new Set(this.current.invoices.map((i) => i.invoiceId))
    return this.invoiceIds
  }

  private replay(values: unknown[], after: number, skippedLines: number): void {
    const state = this.stateFile.current as PmState
    const ids = this.indexedIds()
    let skipped = skippedLines
    let replayed = 0
    for (const value of values) {
      const parsed = linkLine.safeParse(value)
      if (!parsed.success) {
        skipped++
        continue
      }
      const {seq, link, at} = parsed.data
      this.seq = Math.max(this.seq, seq)
      if (seq <= after) continue
      this.lines.push({seq, value: parsed.data})
      if (linkInvoice(state, link, new Date(at), (id) => ids.has(id))) ids.add(link.invoiceId)
      replayed++
    }
    if (skipped > 0) this.logger.warn({skipped}, 'skipped unreadable pm journal lines (never acknowledged)')
    if (replayed > 0) this.logger.info({replayed, seq: this.seq}, 'replayed the pm journal on the snapshot')
  }

  /** A snapshot holding every link up to `seq` is on disk: the journal can drop them. */
  private snapshotWritten({journalSeq: seq, invoices}: PmState & {journalSeq: number}): void {
    this.snapshotInvoices = invoices.length
    if (seq >= this.unsavedSeq) this.unsavedSeq = 0
    // Lines are in seq order (appended in call order).
    if (!this.journal || (this.lines[0]?.seq ?? Infinity) > seq) return
    this.journal
      .rewrite(() => {
        this.lines = this.lines.filter((l) => l.seq > seq)
        return true
      })
      .catch((error: unknown) =>
        this.logger.warn({err: error}, 'could not shorten the pm journal; it is replayed in full'),
      )
  }
}

async function seed(seedFile: string): Promise<PmState> {
  const state = asState(JSON.parse(await readFile(seedFile, 'utf8')))
  if (!state) throw new Error(`seed file ${seedFile} is not a pm state`)
  return state
}

/** The last journal line a snapshot holds; 0 for a file older pm versions wrote. */
function journalSeqOf(value: unknown): number {
  const seq = (value as {journalSeq?: unknown}).journalSeq
  return typeof seq === 'number' && Number.isInteger(seq) && seq > 0 ? seq : 0
}

function asState(value: unknown): PmState | undefined {
  const v = value as (Partial<PmState> & {journalSeq?: unknown}) | null
  if (
    !v ||
    !Array.isArray(v.projects) ||
    !Array.isArray(v.timesheets) ||
    !Array.isArray(v.invoices) ||
    !Array.isArray(v.events)
  ) {
    return undefined
  }
  const {journalSeq: _seq, ...rest} = v
  return normalizeState({projectRequests: {}, timesheetRequests: {}, ...rest} as PmState)
}
