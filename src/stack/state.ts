import {mkdir, readFile, rename} from 'node:fs/promises'
import {z} from 'zod'
import {writeFileAtomic} from '../lib/atomic-file.js'
import {componentNames, runtimeNames} from './catalog.js'
import type {PocHome} from './home.js'

/**
 * `$POC_HOME/state.json`: what runs, so that `status`, `logs` and `down` find the stack
 * without flags. Every process is recorded with its start time so a reused pid is not
 * mistaken for ours.
 */
const processRecord = z.object({
  role: z.string(),
  pid: z.number().int().positive(),
  startTicks: z.number().int().nonnegative(),
  command: z.string(),
  /** Stopped alone, without its process group and children (see NativeProcessSpec.leaderOnly). */
  leaderOnly: z.boolean().optional(),
})
export type ProcessRecord = z.infer<typeof processRecord>

/** A container of the stack: its main process is also recorded (role `container`), so liveness is a /proc look. */
const containerRecord = z.object({
  id: z.string(),
  name: z.string(),
  image: z.string(),
})
export type ContainerRecord = z.infer<typeof containerRecord>

const componentRecord = z.object({
  name: z.enum(componentNames),
  runtime: z.enum(runtimeNames),
  ports: z.record(z.string(), z.number().int()),
  startedAt: z.string(),
  logFile: z.string(),
  processes: z.array(processRecord),
  container: containerRecord.optional(),
})
export type ComponentRecord = z.infer<typeof componentRecord>

const stackState = z.object({
  version: z.literal(1),
  runtime: z.enum(runtimeNames),
  portOffset: z.number().int().nonnegative(),
  createdAt: z.string(),
  updatedAt: z.string(),
  components: z.array(componentRecord),
  /** The container engine of a docker or podman stack, and the podman service poc started for it. */
  engine: z
    .object({
      socketPath: z.string().optional(),
      host: z.string().optional(),
      port: z.number().int().optional(),
      source: z.string(),
      network: z.string(),
      service: processRecord.optional(),
    })
    .optional(),
  /** Our services run from the services image on the stack's network (--services-in-containers). */
  servicesInContainers: z.boolean().optional(),
})
export type EngineState = NonNullable<z.infer<typeof stackState>['engine']>
export type StackState = z.infer<typeof stackState>

export interface LoadedState {
  state?: StackState
  /** Set when a corrupt state file was moved aside. */
  warning?: string
}

export async function readState(home: PocHome, options = {moveCorruptAside: true}): Promise<LoadedState> {
  let text: string
  try {
    text = await readFile(home.stateFile, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw error
  }
  const parsed = (() => {
    try {
      return stackState.safeParse(JSON.parse(text))
    } catch {
      return undefined
    }
  })()
  if (parsed?.success) return {state: parsed.data}
  if (!options.moveCorruptAside)
    return {warning: `the state file ${home.stateFile} is unreadable; poc up or poc down will set it aside`}
  const aside = `${home.stateFile}.corrupt-${Date.now()}`
  await rename(home.stateFile, aside)
  return {
    warning: `the state file was unreadable and was moved to ${aside}; processes it named are no longer tracked`,
  }
}

export async function writeState(home: PocHome, state: StackState): Promise<void> {
  await mkdir(home.root, {recursive: true})
  state.updatedAt = new Date().toISOString()
  await writeFileAtomic(home.stateFile, `${JSON.stringify(state, null, 2)}\n`)
}

export function emptyState(runtime: StackState['runtime'], portOffset: number): StackState {
  const now = new Date().toISOString()
  return {version: 1, runtime, portOffset, createdAt: now, updatedAt: now, components: []}
}

export function upsertComponent(state: StackState, record: ComponentRecord): void {
  state.components = [...state.components.filter((c) => c.name !== record.name), record]
}

export function removeComponent(state: StackState, name: string): void {
  state.components = state.components.filter((c) => c.name !== name)
}
