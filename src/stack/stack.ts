import {mkdir, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {
  type ComponentContext,
  type ComponentName,
  type Group,
  type RuntimeName,
  catalog,
  getComponent,
  maxPortOffset,
  selectComponents,
  startWaves,
} from './catalog.js'
import {type Clock, formatDuration, systemClock} from './clock.js'
import {componentContext, publicUrls} from './context.js'
import {ExitCode, PocError, errorMessage, usageError} from './errors.js'
import type {PocHome} from './home.js'
import {withLock} from './lock.js'
import {lastLines} from './log-tail.js'
import {processesAlive, stopProcesses, waitPortsFree} from './native.js'
import {newRuntime, runtimeForState} from './open-runtime.js'
import {checkPortFree, describeHolder, type PortConflict} from './ports.js'
import {pidsWorkingUnder, readStat} from './proc.js'
import {waitForReady} from './readiness.js'
import {type Runtime, type RuntimeChoice, removeComponentData, unavailableReason} from './runtime.js'
import {
  type ComponentRecord,
  type StackState,
  emptyState,
  readState,
  removeComponent,
  upsertComponent,
  writeState,
} from './state.js'

export {removeComponentData} from './runtime.js'

export type ProgressPhase =
  | 'checking'
  | 'preparing'
  | 'starting'
  | 'ready'
  | 'unchanged'
  | 'skipped'
  | 'failed'
  | 'stopping'
  | 'stopped'
export interface ProgressEvent {
  component: ComponentName
  phase: ProgressPhase
  message?: string
}
export type Progress = (event: ProgressEvent) => void

export type ComponentState = 'healthy' | 'unhealthy' | 'down' | 'stopped' | 'unavailable'

export interface ComponentReport {
  name: ComponentName
  summary: string
  state: ComponentState
  /** What this `up` did with it. */
  action?: 'started' | 'restarted' | 'unchanged' | 'skipped'
  pids: number[]
  ports: Record<string, number>
  urls: Record<string, string>
  uptimeMs?: number
  readyMs?: number
  reason?: string
  /** Under docker or podman: the container (short id) and the image it runs. */
  container?: {id: string; name: string; image: string}
  /** What the running server says it is (`poc status`). */
  version?: string
}

export interface UpRequest {
  only?: ComponentName[]
  with?: Group[]
  runtime: RuntimeChoice
  /** Undefined: keep the running stack's offset, else 0. */
  portOffset?: number
  /** Overrides every component's own start timeout. */
  timeoutMs?: number
  /** docker/podman: run our services from the services image too. */
  servicesInContainers?: boolean
  /** docker/podman: never pull; use poc's local images. */
  offline?: boolean
}

export interface UpResult {
  home: string
  runtime: RuntimeName
  servicesInContainers: boolean
  portOffset: number
  durationMs: number
  components: ComponentReport[]
  warnings: string[]
}

export interface StackContext {
  home: PocHome
  clock?: Clock
  signal?: AbortSignal
  progress?: Progress
}

const logLinesOnFailure = 40
/**
 * A component that never became ready holds no accepted work, and a booting RabbitMQ ignores
 * SIGTERM until its boot completes: don't wait its full grace period when undoing a failed up.
 */
const unreadyStopGraceMs = 2000

export async function up(request: UpRequest, context: StackContext): Promise<UpResult> {
  const {home} = context
  const clock = context.clock ?? systemClock
  const progress = context.progress ?? (() => undefined)
  const began = clock.now()
  if (request.portOffset !== undefined && (request.portOffset < 0 || request.portOffset > maxPortOffset)) {
    throw usageError(`--port-offset must be between 0 and ${maxPortOffset}, got ${request.portOffset}`)
  }

  return withLock(home, 'up', async () => {
    const warnings: string[] = []
    const loaded = await readState(home)
    if (loaded.warning) warnings.push(loaded.warning)
    const previouslyRecorded = new Set(loaded.state?.components.map((c) => c.name))
    const {state, runtime} = await reconcile(loaded.state, request, home)
    try {
      return await upWith(runtime, state)
    } catch (error) {
      // Nothing runs (a port taken, an image missing, or everything started was stopped again):
      // what the runtime made for this call goes too, e.g. the podman service it started.
      if (state.components.length === 0) {
        await runtime.teardown().catch(() => undefined)
        await rm(home.stateFile, {force: true})
      }
      throw error
    } finally {
      await runtime.close()
    }

    async function upWith(runtime: Runtime, state: StackState): Promise<UpResult> {
      const portOffset = state.portOffset
      // The stack's members: what this call starts (known below) and what already runs.
      let members: ComponentName[] = []
      const inStack = (name: ComponentName) =>
        members.includes(name) || state.components.some((c) => c.name === name)
      const context_ = (name: ComponentName) =>
        componentContext(name, home, portOffset, runtime.placementOf, inStack)
      const selected = selectComponents({only: request.only, with: request.with})

      const reports = new Map<ComponentName, ComponentReport>()
      const skip = (name: ComponentName, reason: string) => {
        reports.set(name, {
          ...baseReport(name, home, portOffset),
          state: 'unavailable',
          action: 'skipped',
          reason,
        })
        progress({component: name, phase: 'skipped', message: reason})
      }
      const runnable: ComponentName[] = []
      for (const name of selected) {
        const reason = runtime.unavailableReason(getComponent(name))
        if (!reason) runnable.push(name)
        else if (request.only?.includes(name))
          throw new PocError(`cannot start ${name}: ${reason}`, {code: 'unavailable'})
        else skip(name, reason)
      }
      const running = new Set(runnable.filter((name) => state.components.some((c) => c.name === name)))
      let toStart = runnable.filter((name) => !running.has(name))
      // What a component needs before it starts (binaries, images); optional ones that cannot have it are skipped.
      const required = new Set<ComponentName>(
        toStart.filter((name) => request.only?.includes(name) || getComponent(name).group === 'core'),
      )
      const missing = await runtime.prepare(toStart, {
        required,
        signal: context.signal,
        progress: (component, message) => progress({component, phase: 'preparing', message}),
      })
      for (const [name, reason] of missing) skip(name, reason)
      // A component whose dependency cannot run is skipped too, with that reason.
      for (const name of [...runnable]) {
        if (reports.has(name)) continue
        const blocked = getComponent(name).dependsOn.find((dep) => reports.get(dep)?.state === 'unavailable')
        if (blocked) skip(name, `needs ${blocked}, which is unavailable`)
      }
      const startable = runnable.filter((name) => !reports.has(name))
      members = startable
      toStart = startable.filter((name) => !running.has(name))
      await preflight(runtime, toStart, portOffset, home)
      state.engine = runtime.engineState()
      state.servicesInContainers = request.servicesInContainers ?? state.servicesInContainers
      await writeState(home, state)

      let saving = Promise.resolve()
      const save = () => (saving = saving.then(() => writeState(home, state)))
      const startedHere: ComponentRecord[] = []
      const readyHere = new Set<ComponentName>()

      /** Starts the component's processes (or container), recorded at once so nothing goes untracked. */
      const launch = async (name: ComponentName, ctx: ComponentContext): Promise<ComponentRecord> => {
        const record: ComponentRecord = {
          name,
          runtime: runtime.name,
          ports: ctx.ports,
          startedAt: new Date().toISOString(),
          logFile: ctx.logFile,
          processes: [],
        }
        upsertComponent(state, record)
        startedHere.push(record)
        await runtime.start({spec: getComponent(name), ctx, record, save})
        return record
      }

      // Services that run as host processes start with the first wave, while RabbitMQ boots: each
      // loads its code and does all its start-up that needs no other component (state, routes),
      // then waits at its gate file, opened when its wave comes; it then connects and listens
      // (issue 19). In a container, or when a dependency already runs, they start in their wave.
      const waves = startWaves(startable)
      const gated = new Map<ComponentName, string>()
      for (const name of waves.slice(1).flat()) {
        const spec = getComponent(name)
        const ctx = context_(name)
        if (spec.kind !== 'service' || ctx.placement !== 'process' || running.has(name)) continue
        if (spec.dependsOn.every((dep) => running.has(dep))) continue
        gated.set(name, path.join(home.root, 'run', `${name}.start`))
      }

      const prestart = async (name: ComponentName, gate: string): Promise<void> => {
        await mkdir(path.dirname(gate), {recursive: true})
        await rm(gate, {force: true})
        const deps = getComponent(name).dependsOn
        const message = `loading until ${deps.join(', ')} ${deps.length === 1 ? 'is' : 'are'} ready`
        progress({component: name, phase: 'starting', message})
        await launch(name, {...context_(name), startGate: gate})
      }

      const bringUp = async (name: ComponentName): Promise<void> => {
        const spec = getComponent(name)
        const ctx = context_(name)
        const timeoutMs = request.timeoutMs ?? spec.startTimeoutMs
        const wasRunning = running.has(name)
        let record = state.components.find((c) => c.name === name)
        const t0 = clock.now()
        const gate = gated.get(name)
        if (gate && record) {
          // Its dependencies are ready: the process already loaded its code and starts now.
          await writeFile(gate, '')
        } else if (!wasRunning || !record) {
          progress({component: name, phase: 'starting'})
          record = await launch(name, ctx)
        } else {
          progress({component: name, phase: 'checking'})
        }
        const current = record
        try {
          await waitForReady(spec.readiness(ctx), {
            timeoutMs,
            clock,
            signal: context.signal,
            abortIf: () =>
              processesAlive(current.processes)
                ? undefined
                : `${name} exited while starting (see its log: ${current.logFile})`,
          })
        } catch (error) {
          const message = `${name} did not become ready: ${errorMessage(error)}`
          progress({component: name, phase: 'failed', message})
          throw new PocError(message, {
            code: 'start_failed',
            details: await logTail(name, current.logFile),
            suggestions: [`See the whole log with: poc logs ${name}`, 'Check prerequisites with: poc doctor'],
            cause: error,
          })
        }
        const readyMs = clock.now() - t0
        await runtime.afterReady({spec, ctx, record: current, save})
        readyHere.add(name)
        const action = wasRunning ? 'unchanged' : previouslyRecorded.has(name) ? 'restarted' : 'started'
        progress({
          component: name,
          phase: wasRunning ? 'unchanged' : 'ready',
          message: wasRunning ? 'already running' : `ready in ${formatDuration(readyMs)}`,
        })
        reports.set(name, {
          ...recordReport(name, current, home, portOffset),
          state: 'healthy',
          action,
          readyMs: wasRunning ? undefined : readyMs,
        })
      }

      // In parallel with the first wave: its components' start does not wait for this.
      const prestarted = Promise.all([...gated].map(([name, gate]) => prestart(name, gate)))
      prestarted.catch(() => undefined)
      try {
        for (const [i, wave] of waves.entries()) {
          if (i === 1) await prestarted
          if (context.signal?.aborted) throw context.signal.reason
          const results = await Promise.allSettled(wave.map(bringUp))
          const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
          if (failure) throw failure.reason
        }
      } catch (error) {
        // Every process started early is recorded before anything is stopped.
        await prestarted.catch(() => undefined)
        // Stop what this call started, newest first, and say so; the original error is what the user sees.
        for (const record of [...startedHere].reverse()) {
          progress({component: record.name, phase: 'stopping'})
          const grace = readyHere.has(record.name)
            ? getComponent(record.name).stopGraceMs
            : unreadyStopGraceMs
          await runtime.stop(record, grace, clock).catch(() => undefined)
          removeComponent(state, record.name)
          progress({component: record.name, phase: 'stopped'})
        }
        await saving.catch(() => undefined)
        if (state.components.length > 0) await writeState(home, state)
        if (context.signal?.aborted) {
          throw new PocError(
            `interrupted: stopped the ${startedHere.length} component(s) this call had started`,
            {
              exitCode: ExitCode.interrupted,
              code: 'interrupted',
            },
          )
        }
        throw error
      }
      await saving
      return {
        home: home.root,
        runtime: runtime.name,
        servicesInContainers: state.servicesInContainers ?? false,
        portOffset,
        durationMs: clock.now() - began,
        components: selected.map((name) => reports.get(name) as ComponentReport),
        warnings,
      }
    }
  })
}

/**
 * Bring the recorded state in line with reality: components whose processes are gone (or
 * whose pids now belong to other programs) are cleaned out; a live stack keeps its settings
 * and its runtime (`auto` never moves a running stack), a new one gets the runtime asked for.
 */
async function reconcile(
  existing: StackState | undefined,
  request: UpRequest,
  home: PocHome,
): Promise<{state: StackState; runtime: Runtime}> {
  const fresh = async () => {
    const portOffset = request.portOffset ?? existing?.portOffset ?? 0
    const runtime = await newRuntime(request.runtime, home, portOffset, {
      servicesInContainers: request.servicesInContainers ?? false,
      offline: request.offline ?? false,
    })
    return {state: emptyState(runtime.name, portOffset), runtime}
  }
  if (!existing) return fresh()
  const runtime = await runtimeForState(existing, home, {
    servicesInContainers: request.servicesInContainers,
    offline: request.offline,
  })
  for (const record of [...existing.components]) {
    if (processesAlive(record.processes)) continue
    // Part of it may still run (e.g. epmd without its broker, a stopped container): stop the rest before it starts again.
    await runtime.stop(record, getComponent(record.name).stopGraceMs)
    removeComponent(existing, record.name)
  }
  if (existing.components.length === 0) {
    const requested = request.runtime === 'auto' ? undefined : request.runtime
    const sameOffset = request.portOffset === undefined || request.portOffset === existing.portOffset
    const sameServices = (request.servicesInContainers ?? false) === (existing.servicesInContainers ?? false)
    if (
      (requested === undefined || requested === existing.runtime) &&
      sameOffset &&
      sameServices &&
      runtime.name !== 'native'
    ) {
      return {state: {...emptyState(runtime.name, existing.portOffset), engine: existing.engine}, runtime}
    }
    await runtime.teardown()
    await runtime.close()
    return fresh()
  }
  const mismatch = (message: string, code: string) =>
    new PocError(message, {
      code,
      suggestions: [
        'Stop it first with: poc down',
        'Or run a second stack in another directory: POC_HOME=/tmp/other poc up',
      ],
    })
  if (request.portOffset !== undefined && request.portOffset !== existing.portOffset) {
    throw mismatch(
      `the stack in ${home.root} already runs with --port-offset ${existing.portOffset}, not ${request.portOffset}`,
      'offset_mismatch',
    )
  }
  if (request.runtime !== 'auto' && existing.runtime !== request.runtime) {
    throw mismatch(
      `the stack in ${home.root} runs under the ${existing.runtime} runtime, not ${request.runtime}`,
      'runtime_mismatch',
    )
  }
  if (
    request.servicesInContainers !== undefined &&
    request.servicesInContainers !== (existing.servicesInContainers ?? false)
  ) {
    throw mismatch(
      `the stack in ${home.root} runs its services ${existing.servicesInContainers ? 'in containers' : 'as host processes'}`,
      'services_mismatch',
    )
  }
  return {state: existing, runtime}
}

/** Everything that can be known before starting anything: the ports each component will bind are free. */
async function preflight(
  runtime: Runtime,
  names: ComponentName[],
  portOffset: number,
  home: PocHome,
): Promise<void> {
  const conflicts: PortConflict[] = []
  for (const name of names) {
    const ctx = componentContext(name, home, portOffset, runtime.placementOf)
    const portNames = Object.fromEntries(
      Object.entries(ctx.ports).map(([portName, port]) => [port, portName]),
    )
    for (const port of runtime.hostPorts(getComponent(name), ctx)) {
      const holder = await checkPortFree(port)
      if (holder) conflicts.push({component: name, portName: portNames[port] ?? String(port), port, holder})
    }
  }
  if (conflicts.length === 0) return
  const lines = conflicts.map(
    (c) => `port ${c.port} (${c.component} ${c.portName}) is taken by ${describeHolder(c.holder)}`,
  )
  throw new PocError(lines.length === 1 ? (lines[0] as string) : `${lines.length} ports are taken`, {
    code: 'port_taken',
    details: lines.length === 1 ? [] : lines,
    suggestions: [
      `Stop that process, or run this stack on other ports: poc up --port-offset ${portOffset + 1000}`,
    ],
  })
}

function baseReport(name: ComponentName, home: PocHome, portOffset: number): ComponentReport {
  const spec = getComponent(name)
  return {
    name,
    summary: spec.summary,
    state: 'stopped',
    pids: [],
    ports: publicPorts(name, portOffset),
    urls: publicUrls(name, home, portOffset),
  }
}

/** A recorded component as status and up show it: its processes, and its container under docker or podman. */
function recordReport(
  name: ComponentName,
  record: ComponentRecord,
  home: PocHome,
  portOffset: number,
): ComponentReport {
  return {
    ...baseReport(name, home, portOffset),
    pids: record.processes.map((p) => p.pid),
    uptimeMs: Date.now() - Date.parse(record.startedAt),
    ...(record.container
      ? {
          container: {
            id: record.container.id.slice(0, 12),
            name: record.container.name,
            image: record.container.image,
          },
        }
      : {}),
  }
}

function publicPorts(name: ComponentName, portOffset: number): Record<string, number> {
  const spec = getComponent(name)
  return Object.fromEntries(spec.ports.filter((p) => !p.internal).map((p) => [p.name, p.port + portOffset]))
}

async function logTail(name: ComponentName, file: string): Promise<string[]> {
  const lines = await lastLines(file, logLinesOnFailure)
  return lines.length === 0
    ? [`(${name} wrote nothing to ${file})`]
    : [`last ${lines.length} lines of ${file}:`, ...lines]
}

export interface StatusResult {
  home: string
  runtime?: RuntimeName
  portOffset?: number
  running: boolean
  components: ComponentReport[]
  warnings: string[]
}

/** A look at the stack without changing it: every catalog component with its state. */
export async function status(context: StackContext): Promise<StatusResult> {
  const {home} = context
  // A report must not move a corrupt file aside behind a running `up`'s back.
  const loaded = await readState(home, {moveCorruptAside: false})
  const state = loaded.state
  const portOffset = state?.portOffset ?? 0
  const components = await Promise.all(
    catalog.map(async (spec): Promise<ComponentReport> => {
      const base = baseReport(spec.name, home, portOffset)
      const record = state?.components.find((c) => c.name === spec.name)
      if (!record) {
        const reason = unavailableReason(spec, state?.runtime ?? 'native', state?.servicesInContainers)
        return reason ? {...base, state: 'unavailable', reason} : base
      }
      const report = recordReport(spec.name, record, home, portOffset)
      if (!processesAlive(record.processes)) {
        return {
          ...report,
          state: 'down',
          uptimeMs: undefined,
          reason: `its ${record.container ? 'container' : 'process'} is gone; poc up starts it again`,
        }
      }
      const ctx = componentContext(spec.name, home, portOffset)
      try {
        await waitForReady(spec.readiness(ctx), {timeoutMs: 0, attemptTimeoutMs: 3000, clock: context.clock})
      } catch (error) {
        return {...report, state: 'unhealthy', reason: errorMessage(error)}
      }
      const version = await spec.version?.(ctx, AbortSignal.timeout(3000)).catch(() => undefined)
      return {...report, state: 'healthy', ...(version ? {version} : {})}
    }),
  )
  return {
    home: home.root,
    runtime: state?.runtime,
    portOffset: state?.portOffset,
    running: components.some((c) => c.state === 'healthy' || c.state === 'unhealthy'),
    components,
    warnings: loaded.warning ? [loaded.warning] : [],
  }
}

export interface DownRequest {
  volumes: boolean
  /** Stop only these components (not what depends on them); the rest of the stack keeps running. */
  only?: ComponentName[]
}

export interface StoppedComponent {
  name: ComponentName
  pids: number[]
  durationMs: number
  forced: boolean
  portsStillHeld: number[]
}

export interface DownResult {
  home: string
  durationMs: number
  stopped: StoppedComponent[]
  /** Processes found running from $POC_HOME that the state file did not list. */
  orphans: number[]
  volumesRemoved: boolean
  warnings: string[]
}

export async function down(request: DownRequest, context: StackContext): Promise<DownResult> {
  const {home} = context
  const clock = context.clock ?? systemClock
  const progress = context.progress ?? (() => undefined)
  const began = clock.now()
  return withLock(home, 'down', async () => {
    const loaded = await readState(home)
    const warnings = loaded.warning ? [loaded.warning] : []
    const state = loaded.state
    const stopped: StoppedComponent[] = []
    const runtime = state ? await runtimeForState(state, home) : undefined
    try {
      if (state && runtime) {
        // Reverse dependency order: services before the broker they publish to.
        const names = state.components
          .map((c) => c.name)
          .filter((n) => !request.only || request.only.includes(n))
        for (const wave of startWaves(names).reverse()) {
          await Promise.all(
            wave.map(async (name) => {
              const record = state.components.find((c) => c.name === name) as ComponentRecord
              progress({component: name, phase: 'stopping'})
              // --volumes deletes the data, so a graceful stop (which flushes it) buys nothing:
              // SIGKILL at once. RabbitMQ 3.10 alone spends 5 s of its stop in the management agent.
              const graceMs = request.volumes ? 0 : getComponent(name).stopGraceMs
              const outcome = await runtime.stop(record, graceMs, clock)
              const portsStillHeld = await waitPortsFree(Object.values(record.ports), 10_000, clock)
              removeComponent(state, name)
              await writeState(home, state)
              stopped.push({name, pids: record.processes.map((p) => p.pid), ...outcome, portsStillHeld})
              progress({
                component: name,
                phase: 'stopped',
                message: outcome.forced ? 'needed SIGKILL' : undefined,
              })
            }),
          )
        }
      }
      if (request.only) {
        if (request.volumes) {
          for (const name of request.only) await removeComponentData(home, name)
        }
        return {
          home: home.root,
          durationMs: clock.now() - began,
          stopped,
          orphans: [],
          volumesRemoved: request.volumes,
          warnings,
        }
      }
      // The network, stray containers of this home, and the podman service poc started.
      if (runtime) warnings.push(...(await runtime.teardown()))
    } finally {
      await runtime?.close()
    }
    const orphans = await stopOrphans(home, clock)
    await rm(home.stateFile, {force: true})
    if (request.volumes) await rm(home.dataDir, {recursive: true, force: true})
    return {
      home: home.root,
      durationMs: clock.now() - began,
      stopped,
      orphans,
      volumesRemoved: request.volumes,
      warnings,
    }
  })
}

/**
 * Every process we start runs with its working directory inside $POC_HOME. Anything still
 * running from there after the recorded ones stopped (a lost state file, a helper that
 * escaped its tree) is ours, and is stopped too.
 */
async function stopOrphans(home: PocHome, clock: Clock): Promise<number[]> {
  const orphans = pidsWorkingUnder(home.root)
  for (const pid of orphans) {
    const stat = readStat(pid)
    if (stat)
      await stopProcesses([{role: 'orphan', pid, startTicks: stat.startTicks, command: ''}], 5000, clock)
  }
  return orphans
}
