import {mkdir, open, readFile, type FileHandle} from 'node:fs/promises'
import path from 'node:path'
import {writeFileAtomic} from '../../lib/atomic-file.js'

interface QueuedWrite {
  line: string
  durable: boolean
  /** Runs once the line is written (and fsynced when durable), before any later file operation. */
  commit?: () => void
  resolve: () => void
  reject: (error: Error) => void
}

/** Lines of a JSON-lines file: the parsed values in order, and how many could not be read. */
export interface ParsedLines {
  values: unknown[]
  /** A torn last line (never completely written) or a line that is not JSON. */
  skippedLines: number
}

export function parseJsonLines(text: string): ParsedLines {
  const values: unknown[] = []
  let skippedLines = 0
  const lines = text.split('\n')
  // What follows the last newline was never completely written.
  const torn = lines.pop()
  if (torn) skippedLines++
  for (const line of lines) {
    if (line.trim() === '') continue
    try {
      values.push(JSON.parse(line))
    } catch {
      skippedLines++
    }
  }
  return {values, skippedLines}
}

/**
 * An append-only JSON-lines file. A durable append resolves only after its line is fsynced, so
 * a caller told "accepted" survives a kill -9; concurrent appends share one fsync (group commit)
 * and keep their call order. `rewrite` replaces the whole file atomically with what `snapshot`
 * says is live, which also drops a torn last line a later append would otherwise glue onto.
 */
export class JsonLinesLog {
  private handle: FileHandle | undefined
  private queue: QueuedWrite[] = []
  private writing: Promise<void> = Promise.resolve()
  private writeScheduled = false
  /** A failed write may have left a partial line: rewrite the file before appending again. */
  private damaged = false
  private closed = false

  private constructor(
    readonly file: string,
    private readonly snapshot: () => string[],
    private readonly label: string,
  ) {}

  /** Reads what the file holds (empty when absent); call `start` once the caller has loaded it. */
  static async read(file: string, label: string): Promise<ParsedLines> {
    await mkdir(path.dirname(file), {recursive: true})
    try {
      return parseJsonLines(await readFile(file, 'utf8'))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {values: [], skippedLines: 0}
      throw new Error(`cannot read the ${label} ${file}: ${(error as Error).message}`, {cause: error})
    }
  }

  /** Rewrites the file from `snapshot` (dropping unreadable lines) and opens it for appending. */
  static async start(file: string, snapshot: () => string[], label: string): Promise<JsonLinesLog> {
    const log = new JsonLinesLog(file, snapshot, label)
    await log.serialized(async () => {
      await log.rewriteNow()
    })
    return log
  }

  /** Resolves once the line is written, and fsynced when durable; rejects if it could not be. */
  append(value: unknown, durable: boolean, commit?: () => void): Promise<void> {
    return this.appendLine(JSON.stringify(value), durable, commit)
  }

  /** `append` of a value the caller serialised already (`json`: one JSON value, no newline). */
  appendLine(json: string, durable: boolean, commit?: () => void): Promise<void> {
    const line = `${json}\n`
    return new Promise((resolve, reject) => {
      this.queue.push({line, durable, commit, resolve, reject})
      if (this.writeScheduled) return
      this.writeScheduled = true
      void this.serialized(() => this.writeQueued())
    })
  }

  /**
   * Replaces the file with `snapshot()` (temp file, fsync, rename), after the writes queued
   * before it; `when`, checked at that moment, can make it unnecessary.
   */
  async rewrite(when: () => boolean = () => true): Promise<void> {
    await this.serialized(async () => {
      if (when()) await this.rewriteNow()
    })
  }

  /** Rewrites once more and releases the file; later calls fail. */
  async close(): Promise<void> {
    if (this.closed) return
    await this.rewrite()
    this.closed = true
    await this.serialized(async () => {
      await this.handle?.close()
      this.handle = undefined
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
      const handle = this.damaged || !this.handle ? await this.rewriteNow() : this.handle
      await handle.appendFile(batch.map((w) => w.line).join(''))
      if (batch.some((w) => w.durable)) await handle.datasync()
      for (const write of batch) write.commit?.()
      for (const write of batch) write.resolve()
    } catch (error) {
      this.damaged = !this.closed
      const failure = new Error(
        `cannot append to the ${this.label} ${this.file}: ${(error as Error).message}`,
        {
          cause: error,
        },
      )
      for (const write of batch) write.reject(failure)
    }
  }

  private async rewriteNow(): Promise<FileHandle> {
    if (this.closed) throw new Error(`the ${this.label} ${this.file} is closed`)
    const lines = this.snapshot().map((line) => `${line}\n`)
    await this.handle?.close()
    this.handle = undefined
    await writeFileAtomic(this.file, lines.join(''))
    // The old handle points at the replaced file: appends must go to the new one.
    const handle = await open(this.file, 'a')
    this.handle = handle
    this.damaged = false
    return handle
  }
}
