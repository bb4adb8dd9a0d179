import {mkdir, readFile, rename} from 'node:fs/promises'
import path from 'node:path'
import {writeFileAtomic} from '../../lib/atomic-file.js'
import type {Logger} from '../shared/logger.js'
import type {PmState} from './domain.js'

/**
 * pm's state file (PM_STATE_FILE): `{projects, timesheets, invoices, events}` written whole and
 * atomically before a change is acknowledged, so a kill at any moment leaves a valid file that
 * holds every change a client was told about. Changes are applied one at a time.
 */
export class PmStore {
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(
    private state: PmState,
    private readonly file: string,
  ) {}

  static async open(file: string, seedFile: string, logger: Logger): Promise<PmStore> {
    await mkdir(path.dirname(file), {recursive: true})
    let state: PmState | undefined
    try {
      state = asState(JSON.parse(await readFile(file, 'utf8')))
      if (!state) throw new Error('not a pm state')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        const aside = `${file}.corrupt-${Date.now()}`
        await rename(file, aside)
        logger.warn({aside, err: error}, 'pm state file unreadable; moved aside, starting from seed data')
      }
    }
    const store = new PmStore(state ?? (await seed(seedFile)), file)
    if (!state) await store.persist()
    return store
  }

  get current(): Readonly<PmState> {
    return this.state
  }

  /** Apply a change and persist it; resolves only when the new state is on disk. */
  mutate<T>(change: (state: PmState) => T): Promise<T> {
    const run = this.queue.then(async () => {
      const draft = structuredClone(this.state)
      const result = change(draft)
      this.state = draft
      await this.persist()
      return result
    })
    this.queue = run.catch(() => undefined)
    return run
  }

  /** Back to the seed data (POST /admin/reset, poc reset). */
  async reset(seedFile: string): Promise<void> {
    const fresh = await seed(seedFile)
    await this.mutate((state) => Object.assign(state, fresh))
  }

  private persist(): Promise<void> {
    return writeFileAtomic(this.file, JSON.stringify(this.state))
  }
}

async function seed(seedFile: string): Promise<PmState> {
  const state = asState(JSON.parse(await readFile(seedFile, 'utf8')))
  if (!state) throw new Error(`seed file ${seedFile} is not a pm state`)
  return state
}

function asState(value: unknown): PmState | undefined {
  const v = value as Partial<PmState> | null
  if (
    !v ||
    !Array.isArray(v.projects) ||
    !Array.isArray(v.timesheets) ||
    !Array.isArray(v.invoices) ||
    !Array.isArray(v.events)
  ) {
    return undefined
  }
  return {projectRequests: {}, ...v} as PmState
}
