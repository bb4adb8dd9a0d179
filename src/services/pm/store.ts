import {readFile} from 'node:fs/promises'
import type {Logger} from '../shared/logger.js'
import {StateFile} from '../shared/state-file.js'
import {normalizeState, type PmState} from './domain.js'

/**
 * pm's state file (PM_STATE_FILE): `{projects, timesheets, invoices, events}`, persisted whole
 * and atomically before a change is acknowledged (see StateFile). Starts from the seed data.
 */
export class PmStore {
  private constructor(private readonly stateFile: StateFile<PmState>) {}

  static async open(file: string, seedFile: string, logger: Logger): Promise<PmStore> {
    const stateFile = await StateFile.open({
      file,
      label: 'pm state',
      validate: asState,
      initial: () => seed(seedFile),
      logger,
    })
    return new PmStore(stateFile)
  }

  get current(): Readonly<PmState> {
    return this.stateFile.current
  }

  health(): ReturnType<StateFile<PmState>['health']> {
    return this.stateFile.health()
  }

  /** Apply a change and persist it; resolves only when the new state is on disk. */
  mutate<T>(change: (state: PmState) => T): Promise<T> {
    return this.stateFile.mutate(change)
  }

  /** Back to the seed data (POST /admin/reset, poc reset). */
  async reset(seedFile: string): Promise<void> {
    const fresh = await seed(seedFile)
    await this.stateFile.replace(fresh)
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
  return normalizeState({projectRequests: {}, timesheetRequests: {}, ...v} as PmState)
}
