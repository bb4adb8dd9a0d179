import {readFile, readdir, rm} from 'node:fs/promises'
import path from 'node:path'
import {
  type ComponentContext,
  type ComponentName,
  type ComponentSpec,
  type RuntimeName,
  getComponent,
} from './catalog.js'
import {type Clock} from './clock.js'
import {type PlacementOf, allProcesses} from './context.js'
import type {PocHome} from './home.js'
import {type StopOutcome, resolveBinaries, spawnDetached, stopProcesses} from './native.js'
import {readStat} from './proc.js'
import type {ComponentRecord, EngineState} from './state.js'

export type RuntimeChoice = RuntimeName | 'auto'

export interface RuntimeProgress {
  (component: ComponentName, message: string): void
}

export interface StartRequest {
  spec: ComponentSpec
  ctx: ComponentContext
  /** Filled in as the component starts (processes, container), and saved after each step so a crash leaves nothing untracked. */
  record: ComponentRecord
  save(): Promise<void>
}

/**
 * Where components run. `up()`, `down()` and `status()` orchestrate over this interface and
 * never look at a component's recipes or containers themselves (testcontainers-node's
 * started handle is the model: start fills a record; stop is idempotent).
 */
export interface Runtime {
  readonly name: RuntimeName
  readonly placementOf: PlacementOf
  /** Why the component cannot run under this runtime, or undefined when it can. */
  unavailableReason(spec: ComponentSpec): string | undefined
  /**
   * Everything that can be had before anything starts: binaries installed, images pulled or
   * built. A component in `required` that cannot get what it needs is an error; the others
   * come back with the reason, and are skipped.
   */
  prepare(
    names: ComponentName[],
    options: {required: ReadonlySet<ComponentName>; progress: RuntimeProgress; signal?: AbortSignal},
  ): Promise<Map<ComponentName, string>>
  /** The host ports the component binds, checked free before anything is created. */
  hostPorts(spec: ComponentSpec, ctx: ComponentContext): number[]
  start(request: StartRequest): Promise<void>
  /** Once the component is ready: record what only then exists (the server's own pid behind a launcher). */
  afterReady(request: StartRequest): Promise<void>
  /** Stops and removes what the record names; what is already gone is success. */
  stop(record: ComponentRecord, graceMs: number, clock?: Clock): Promise<StopOutcome>
  /** After the whole stack stopped: what the runtime made besides components (network, stray containers, its engine service). */
  teardown(): Promise<string[]>
  /** What state.json keeps of the runtime, so later commands find the same engine. */
  engineState(): EngineState | undefined
  /** Resources this process holds (sockets); the stack keeps running. */
  close(): Promise<void>
}

/**
 * Why a component cannot run under a runtime, or undefined when it can: natively it needs a
 * native recipe; under docker or podman infrastructure (and, with --services-in-containers,
 * our services) needs a container recipe, and the rest runs as host processes.
 */
export function unavailableReason(
  spec: ComponentSpec,
  runtime: RuntimeName,
  servicesInContainers = false,
): string | undefined {
  const inContainer = runtime !== 'native' && (spec.kind === 'infrastructure' || servicesInContainers)
  if (inContainer) return spec.container ? undefined : `${spec.name} has no container form`
  return spec.native
    ? undefined
    : `${spec.name} has no native form; it needs a container runtime (docker or podman)`
}

/** The native runtime: every component is a process of the machine's own binaries (SPEC §2.1). */
export class NativeRuntime implements Runtime {
  readonly name: RuntimeName = 'native'
  readonly placementOf = allProcesses

  unavailableReason(spec: ComponentSpec): string | undefined {
    return unavailableReason(spec, 'native')
  }

  async prepare(names: ComponentName[]): Promise<Map<ComponentName, string>> {
    resolveBinaries(names.flatMap((name) => getComponent(name).native?.binaries ?? []))
    return new Map()
  }

  hostPorts(_spec: ComponentSpec, ctx: ComponentContext): number[] {
    return Object.values(ctx.ports)
  }

  async start({spec, ctx, record, save}: StartRequest): Promise<void> {
    const recipe = spec.native
    if (!recipe) throw new Error(`${spec.name} has no native recipe`)
    const binaries = resolveBinaries(recipe.binaries)
    await recipe.prepare?.(ctx)
    for (const processSpec of recipe.processes(ctx, binaries)) {
      record.processes.push(await spawnDetached(processSpec, ctx.logFile))
      await save()
    }
  }

  async afterReady({spec, ctx, record, save}: StartRequest): Promise<void> {
    const file = spec.native?.pidFile?.(ctx)
    if (!file || record.processes.some((p) => p.role === 'server' && p.command.startsWith('pid file'))) return
    const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10)
    const stat = Number.isSafeInteger(pid) && pid > 0 ? readStat(pid) : undefined
    if (!stat) return
    // The launcher's end no longer takes the component down; the server's does.
    for (const p of record.processes) if (p.role === 'server') p.role = 'launcher'
    // Not a group leader (its launcher is): signalled alone, then the launcher's group goes.
    record.processes.push({
      role: 'server',
      pid,
      startTicks: stat.startTicks,
      command: `pid file ${file}`,
      leaderOnly: true,
    })
    await save()
  }

  stop(record: ComponentRecord, graceMs: number, clock?: Clock): Promise<StopOutcome> {
    return stopProcesses(record.processes, graceMs, clock)
  }

  async teardown(): Promise<string[]> {
    return []
  }

  engineState(): undefined {
    return undefined
  }

  async close(): Promise<void> {}
}

/** A component's data directory, gone; it starts empty (or from its seed data) next time. */
export async function removeComponentData(
  home: PocHome,
  name: ComponentName,
  keep: readonly string[] = [],
): Promise<void> {
  const dir = home.dataDirOf(name)
  if (keep.length === 0) return rm(dir, {recursive: true, force: true})
  const entries = await readdir(dir).catch(() => [])
  for (const entry of entries) {
    if (!keep.includes(entry)) await rm(path.join(dir, entry), {recursive: true, force: true})
  }
}
