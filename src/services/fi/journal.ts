import {JsonLinesLog} from '../shared/jsonl-log.js'
import {type JournalEntry, journalEntrySchema} from './read-model.js'

/**
 * fi's persistence: every projected event, one JSON line each, fsynced (group commit) before
 * the event is acknowledged. The read model is a replay of it, so a restart or `rebuild`
 * gives back exactly what was visible, and a kill -9 loses nothing that was acknowledged.
 */
export class FiJournal {
  private lines: string[] = []

  private constructor(private log: JsonLinesLog | undefined) {}

  /** Opens the journal; `skipped` counts unreadable lines (a torn last line after a crash). */
  static async open(file: string): Promise<{journal: FiJournal; entries: JournalEntry[]; skipped: number}> {
    const {values, skippedLines} = await JsonLinesLog.read(file, 'fi journal')
    const entries: JournalEntry[] = []
    let skipped = skippedLines
    for (const value of values) {
      const parsed = journalEntrySchema.safeParse(value)
      if (parsed.success) entries.push(parsed.data as JournalEntry)
      else skipped++
    }
    const journal = new FiJournal(undefined)
    journal.lines = entries.map((entry) => JSON.stringify(entry))
    journal.log = await JsonLinesLog.start(file, () => journal.lines, 'fi journal')
    return {journal, entries, skipped}
  }

  get size(): number {
    return this.lines.length
  }

  /** Resolves once the entry is on disk; `commit` runs in journal order right after the fsync. */
  async append(entry: JournalEntry, commit: () => void): Promise<void> {
    const log = this.required()
    const line = JSON.stringify(entry)
    await log.appendLine(line, true, () => {
      this.lines.push(line)
      commit()
    })
  }

  entries(): JournalEntry[] {
    return this.lines.map((line) => JSON.parse(line) as JournalEntry)
  }

  /** Forgets every entry (poc reset). */
  async clear(): Promise<void> {
    const log = this.required()
    await log.rewrite(() => {
      this.lines = []
      return true
    })
  }

  async close(): Promise<void> {
    await this.log?.close()
  }

  private required(): JsonLinesLog {
    if (!this.log) throw new Error('the fi journal is not open')
    return this.log
  }
}
