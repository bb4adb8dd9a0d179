import {mkdir, readFile, rename} from 'node:fs/promises'
import path from 'node:path'
import {writeFileAtomic} from '../../lib/atomic-file.js'
import {HttpError} from './http.js'
import type {Logger} from './logger.js'

export interface StateFileOptions<T> {
  file: string
  /** What a service's state is called in log lines, e.g. "pm state". */
  label: string
  /** The parsed file as T, or undefined when it is not one. */
  validate: (value: unknown) => T | undefined
  /** The state to start from when there is no file (or an unreadable one). */
  initial: () => Promise<T> | T
  logger: Logger
  /** What is written for the state (default: the state itself); runs right before each write. */
  encode?: (state: T) => unknown
  /** Runs after a write is on disk, with what `encode` gave for it. */
  written?: (encoded: unknown) => void
}

/**
 * A service's state as one JSON file, written whole and atomically before a change is
 * acknowledged, so a kill at any moment leaves a valid file that holds every change a client
 * was told about. Changes apply in call order; the changes made while a write is under way
 * share the next write (group commit), so a burst costs a few writes, not one each.
 * An unreadable file is moved aside.
 */
export class StateFile<T> {
  /** Callers waiting for a write that holds their change. */
  private waiting: Array<{resolve: () => void; reject: (error: Error) => void}> = []
  private flushing: Promise<void> | undefined
  /** Why the last write failed; cleared by the next write that succeeds. */
  private writeError: string | undefined

  private constructor(
    private state: T,
    readonly file: string,
    private readonly label: string,
    private readonly logger: Logger,
    private readonly encode: (state: T) => unknown,
    private readonly written: (encoded: unknown) => void,
  ) {}

  static async open<T>({
    file,
    label,
    validate,
    initial,
    logger,
    encode = (state) => state,
    written = () => undefined,
  }: StateFileOptions<T>): Promise<StateFile<T>> {
    await mkdir(path.dirname(file), {recursive: true})
    let state: T | undefined
    try {
      state = validate(JSON.parse(await readFile(file, 'utf8')))
      if (state === undefined) throw new Error(`not a ${label}`)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        const aside = `${file}.corrupt-${Date.now()}`
        await rename(file, aside)
        logger.warn({aside, err: error}, `${label} file unreadable; moved aside, starting afresh`)
      }
    }
    const store = new StateFile<T>(state ?? (await initial()), file, label, logger, encode, written)
    if (state === undefined) await store.persist()
    return store
  }

  get current(): Readonly<T> {
    return this.state
  }

  /**
   * For /health: a service that cannot save its state cannot acknowledge anything. After a
   * failed write, each call tries again, so the report clears once the disk takes writes again.
   */
  async health(): Promise<{writable: boolean; file: string; error?: string}> {
    if (this.writeError !== undefined) await this.persist().catch(() => undefined)
    return {writable: this.writeError === undefined, file: this.file, error: this.writeError}
  }

  /**
   * Apply a change and persist it; resolves only when a write holding it is on disk. The change
   * runs at once, on the live state: it must throw (to refuse) before it modifies anything.
   */
  async mutate<R>(change: (state: T) => R): Promise<R> {
    const result = change(this.state)
    await this.persist()
    return result
  }

  /** Replace the whole state (reset), persisted like a change. */
  async replace(state: T): Promise<void> {
    this.state = state
    await this.persist()
  }

  /** Write the state as it is now (a checkpoint); resolves once that write is on disk. */
  persist(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({resolve, reject})
      this.flushing ??= this.flush()
    })
  }

  /** One write at a time; each carries every change made before it began. */
  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting
      this.waiting = []
      try {
        const encoded = this.encode(this.state)
        await writeFileAtomic(this.file, JSON.stringify(encoded))
        this.writeError = undefined
        this.written(encoded)
        for (const waiter of batch) waiter.resolve()
      } catch (error) {
        const {code, message} = error as NodeJS.ErrnoException
        this.writeError = `cannot save the ${this.label} to ${this.file}: ${code ?? message}`
        this.logger.error({err: error, file: this.file}, this.writeError)
        // The caller's request fails with the cause, not a bare 500.
        const refused = new HttpError(503, 'state_unwritable', this.writeError)
        for (const waiter of batch) waiter.reject(refused)
      }
    }
    this.flushing = undefined
  }
}
