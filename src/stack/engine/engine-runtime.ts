import {mkdir, rm} from 'node:fs/promises'
import path from 'node:path'
import {PassThrough, Readable} from 'node:stream'
import type Docker from 'dockerode'
import {packageRoot} from '../../lib/package-root.js'
import {
  type ComponentContext,
  type ComponentName,
  type ComponentSpec,
  type ContainerRecipe,
  type RuntimeName,
  getComponent,
  loopback,
  serviceEnvironment,
} from '../catalog.js'
import {type Clock, systemClock} from '../clock.js'
import {type PlacementOf} from '../context.js'
import {ExitCode, PocError, errorMessage} from '../errors.js'
import type {PocHome} from '../home.js'
import {ensureLocalImage} from '../images/local-images.js'
import {type StopOutcome, auxiliaryRoles, spawnDetached, stopProcesses} from '../native.js'
import {readStat} from '../proc.js'
import {
  NativeRuntime,
  type Runtime,
  type RuntimeProgress,
  type StartRequest,
  unavailableReason,
} from '../runtime.js'
import type {ComponentRecord, EngineState} from '../state.js'
import {type Engine, engineErrorMessage} from './connect.js'
import {podmanHintsFor} from './containers-conf.js'

/** Labels on everything poc creates in an engine: `poc down` removes what carries its home's, and nothing else. */
export const pocLabels = {home: 'poc.home', component: 'poc.component', offset: 'poc.offset'} as const

export interface EngineRuntimeOptions {
  servicesInContainers: boolean
  /** Never pull: use poc's local images (building them when missing). */
  offline: boolean
}

const pullProgressIntervalMs = 2000

/**
 * The docker and podman runtimes: one code path over the Docker Engine API (dockerode).
 * Infrastructure runs in containers on the stack's network `poc-<offset>`, named
 * `poc-<offset>-<component>`, ports published on 127.0.0.1 with the offset; our services stay
 * host processes unless `--services-in-containers`. A container's main process is recorded by
 * pid and start time like any process, so liveness needs no engine call; its logs are followed
 * into `$POC_HOME/logs/<component>.log` by a small detached process (log-follower.ts).
 */
export class EngineRuntime implements Runtime {
  readonly name: RuntimeName
  readonly placementOf: PlacementOf
  private readonly host = new NativeRuntime()
  private readonly images = new Map<ComponentName, string>()
  private network?: Promise<void>

  constructor(
    private readonly engine: Engine,
    private readonly home: PocHome,
    private readonly portOffset: number,
    private readonly options: EngineRuntimeOptions,
  ) {
    this.name = engine.runtime
    this.placementOf = (name) => {
      const spec = getComponent(name)
      if (!this.inContainer(spec)) return 'process'
      if (spec.container?.reachesServices && !options.servicesInContainers) return 'host-container'
      return 'network-container'
    }
  }

  get networkName(): string {
    return `poc-${this.portOffset}`
  }

  containerName(name: ComponentName): string {
    return `poc-${this.portOffset}-${name}`
  }

  private get docker(): Docker {
    return this.engine.docker
  }

  private inContainer(spec: ComponentSpec): boolean {
    return spec.kind === 'infrastructure' || this.options.servicesInContainers
  }

  unavailableReason(spec: ComponentSpec): string | undefined {
    return unavailableReason(spec, this.name, this.options.servicesInContainers)
  }

  async prepare(
    names: ComponentName[],
    options: {required: ReadonlySet<ComponentName>; progress: RuntimeProgress; signal?: AbortSignal},
  ): Promise<Map<ComponentName, string>> {
    const reasons = new Map<ComponentName, string>()
    await this.host.prepare(names.filter((name) => !this.inContainer(getComponent(name))))
    for (const name of names) {
      const spec = getComponent(name)
      if (!this.inContainer(spec) || this.images.has(name)) continue
      try {
        this.images.set(
          name,
          await this.resolveImage(spec, (line) => options.progress(name, line), options.signal),
        )
      } catch (error) {
        if (options.required.has(name) || !(error instanceof PocError)) throw error
        reasons.set(name, error.message)
      }
    }
    return reasons
  }

  /** The official image when it is here or can be pulled, else poc's local one (SPEC §2.1). */
  private async resolveImage(
    spec: ComponentSpec,
    progress: (line: string) => void,
    signal?: AbortSignal,
  ): Promise<string> {
    const recipe = spec.container as ContainerRecipe
    const official = recipe.image
    const localOnly = official.startsWith('localhost/')
    if (!localOnly && !this.options.offline) {
      if (await this.hasImage(official)) return official
      progress(`pulling ${official}`)
      try {
        await this.pull(official, progress, signal)
        return official
      } catch (error) {
        if (signal?.aborted) throw error
        if (!recipe.localImage) {
          throw new PocError(
            `cannot pull ${official} for ${spec.name}, and poc has no local image of it: ${errorMessage(error)}`,
            {
              code: 'image_unavailable',
              suggestions: [
                `${spec.name} needs a registry, or its image loaded by hand (docker load / podman load).`,
              ],
            },
          )
        }
        progress(`pull failed (${firstLine(errorMessage(error))}); using poc's local image`)
      }
    } else if (!recipe.localImage) {
      throw new PocError(`${spec.name} has no local image, so it cannot run --offline`, {
        code: 'image_unavailable',
        suggestions: [`Run without --offline where ${official} can be pulled.`],
      })
    }
    const local = await ensureLocalImage(
      this.docker,
      recipe.localImage as NonNullable<ContainerRecipe['localImage']>,
      {
        progress,
        signal,
      },
    )
    return local.tag
  }

  private async hasImage(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect()
      return true
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) return false
      throw engineError(`cannot look up the image ${image}`, error)
    }
  }

  /** A pull fails when any event of its stream carries `error`: podman answers 200 and reports failures only inside the stream. */
  private async pull(image: string, progress: (line: string) => void, signal?: AbortSignal): Promise<void> {
    const stream = (await this.docker.pull(image)) as NodeJS.ReadableStream & {
      destroy?: (error?: Error) => void
    }
    let lastShown = 0
    await new Promise<void>((resolve, reject) => {
      let failure: string | undefined
      const onAbort = () => stream.destroy?.(new Error('interrupted'))
      signal?.addEventListener('abort', onAbort, {once: true})
      this.docker.modem.followProgress(
        stream,
        (error: Error | null) => {
          signal?.removeEventListener('abort', onAbort)
          if (error) reject(error)
          else if (failure) reject(new Error(failure))
          else resolve()
        },
        (event: {
          status?: string
          progress?: string
          id?: string
          error?: string
          errorDetail?: {message?: string}
        }) => {
          if (event.error || event.errorDetail?.message) {
            failure = event.errorDetail?.message ?? event.error
            return
          }
          const now = Date.now()
          if (now - lastShown < pullProgressIntervalMs) return
          lastShown = now
          progress([event.id, event.status, event.progress].filter(Boolean).join(' '))
        },
      )
    })
  }

  hostPorts(spec: ComponentSpec, ctx: ComponentContext): number[] {
    if (!this.inContainer(spec)) return this.host.hostPorts(spec, ctx)
    // Erlang's epmd and distribution ports stay inside the container.
    return spec.ports.filter((p) => !p.internal).map((p) => ctx.ports[p.name] as number)
  }

  async start(request: StartRequest): Promise<void> {
    const {spec, ctx, record, save} = request
    if (!this.inContainer(spec)) return this.host.start(request)
    const recipe = spec.container as ContainerRecipe
    const image = this.images.get(spec.name)
    if (!image) throw new Error(`no image was prepared for ${spec.name}`)
    await recipe.prepare?.(ctx)
    const name = this.containerName(spec.name)
    await this.removeStale(name)
    const placement = this.placementOf(spec.name)
    if (placement === 'network-container') await this.ensureNetwork()

    const binds = [...(recipe.binds?.(ctx) ?? [])]
    for (const data of recipe.data ?? []) {
      const dir = path.join(ctx.dataDir, data.dir)
      await mkdir(dir, {recursive: true})
      binds.push({source: dir, target: data.target})
    }
    const env = spec.kind === 'service' ? serviceEnvironment(spec, ctx) : (recipe.env?.(ctx) ?? {})
    const published = spec.ports.filter((p) => !p.internal)
    const onNetwork = placement === 'network-container'
    let container: Docker.Container
    try {
      container = await this.docker.createContainer({
        name,
        Image: image,
        Entrypoint: recipe.entrypoint,
        Cmd: recipe.cmd?.(ctx),
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        Hostname: recipe.hostname,
        // The caller's uid:gid: what it writes into $POC_HOME is theirs.
        User: `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`,
        Labels: {
          [pocLabels.home]: this.home.root,
          [pocLabels.component]: spec.name,
          [pocLabels.offset]: String(this.portOffset),
        },
        ExposedPorts: onNetwork ? Object.fromEntries(published.map((p) => [`${p.port}/tcp`, {}])) : undefined,
        HostConfig: {
          NetworkMode: onNetwork ? this.networkName : 'host',
          PortBindings: onNetwork
            ? Object.fromEntries(
                published.map((p) => [
                  `${p.port}/tcp`,
                  [{HostIp: loopback, HostPort: String(ctx.ports[p.name])}],
                ]),
              )
            : undefined,
          Binds: binds.map((b) => `${b.source}:${b.target}${b.readOnly ? ':ro' : ''}`),
          // A file log every engine can follow (podman's default may be journald, which needs systemd).
          LogConfig: {Type: this.engine.kind === 'podman' ? 'k8s-file' : 'json-file', Config: {}},
        },
        NetworkingConfig: onNetwork
          ? {EndpointsConfig: {[this.networkName]: {Aliases: [spec.name]}}}
          : undefined,
      })
    } catch (error) {
      throw engineError(`cannot create the container ${name} from ${image}`, error)
    }
    record.container = {id: container.id, name, image}
    await save()
    try {
      await container.start()
    } catch (error) {
      throw engineError(`cannot start the container ${name}`, error)
    }
    const info = await container.inspect()
    const stat = info.State.Pid > 0 ? readStat(info.State.Pid) : undefined
    if (!stat) {
      throw new PocError(`the container ${name} exited at once (exit code ${info.State.ExitCode})`, {
        code: 'container_exited',
        details: await this.containerLogTail(container),
        suggestions: [`See its log with: poc logs ${spec.name}`, 'Check the engine with: poc doctor'],
      })
    }
    record.processes.push({
      role: 'container',
      pid: info.State.Pid,
      startTicks: stat.startTicks,
      command: `container ${name} (${image})`,
    })
    await save()
    record.processes.push(await this.followLogs(container.id, ctx))
    await save()
  }

  async afterReady(request: StartRequest): Promise<void> {
    if (!this.inContainer(request.spec)) await this.host.afterReady(request)
  }

  /** The follower writes the container's output to its stdout, which is the component's log file. */
  private followLogs(containerId: string, ctx: ComponentContext) {
    const {socketPath, host, port} = this.engine.address
    return spawnDetached(
      {
        role: 'logs',
        command: process.execPath,
        args: [
          path.join(packageRoot, 'dist', 'stack', 'engine', 'log-follower.js'),
          JSON.stringify({socketPath, host, port}),
          containerId,
        ],
        env: {},
        cwd: ctx.dataDir,
      },
      ctx.logFile,
    )
  }

  private async containerLogTail(container: Docker.Container): Promise<string[]> {
    try {
      const raw = (await container.logs({
        stdout: true,
        stderr: true,
        follow: false,
        tail: 40,
      })) as unknown as Buffer
      const text = new PassThrough()
      const chunks: Buffer[] = []
      text.on('data', (chunk: Buffer) => chunks.push(chunk))
      const source = Readable.from([raw])
      const ended = new Promise((resolve) => source.once('end', resolve))
      this.docker.modem.demuxStream(source, text, text)
      await ended
      return Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean)
    } catch {
      return []
    }
  }

  /** A container left by an earlier run of this stack goes; one of another stack's is not ours to touch. */
  private async removeStale(name: string): Promise<void> {
    let labels: Record<string, string> | undefined
    try {
      labels = (await this.docker.getContainer(name).inspect()).Config.Labels ?? {}
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) return
      throw engineError(`cannot look up the container ${name}`, error)
    }
    if (labels[pocLabels.home] !== this.home.root) {
      throw new PocError(
        `a container named ${name} already exists and is not this stack's (${pocLabels.home}=${labels[pocLabels.home] ?? 'none'})`,
        {
          code: 'container_conflict',
          suggestions: [
            `Stop that stack (POC_HOME=${labels[pocLabels.home] ?? '…'} poc down), or remove the container, or use another --port-offset.`,
          ],
        },
      )
    }
    await this.docker.getContainer(name).remove({force: true})
  }

  private ensureNetwork(): Promise<void> {
    this.network ??= (async () => {
      try {
        await this.docker.getNetwork(this.networkName).inspect()
        return
      } catch (error) {
        if ((error as {statusCode?: number}).statusCode !== 404)
          throw engineError(`cannot look up the network ${this.networkName}`, error)
      }
      try {
        await this.docker.createNetwork({
          Name: this.networkName,
          CheckDuplicate: true,
          Labels: {[pocLabels.home]: this.home.root, [pocLabels.offset]: String(this.portOffset)},
        })
      } catch (error) {
        // Created meanwhile by a parallel start: as good as ours.
        if ((error as {statusCode?: number}).statusCode !== 409)
          throw engineError(`cannot create the network ${this.networkName}`, error)
      }
    })()
    return this.network
  }

  async stop(record: ComponentRecord, graceMs: number, clock: Clock = systemClock): Promise<StopOutcome> {
    if (!record.container) return this.host.stop(record, graceMs, clock)
    const start = clock.now()
    const container = this.docker.getContainer(record.container.id)
    let forced = false
    try {
      await container.stop({t: Math.ceil(graceMs / 1000)})
      forced = clock.now() - start >= graceMs
    } catch (error) {
      // 304: already stopped; 404: already gone. Both are what was asked for.
      const status = (error as {statusCode?: number}).statusCode
      if (status !== 304 && status !== 404)
        throw engineError(`cannot stop the container ${record.container.name}`, error)
    }
    try {
      await container.remove({force: true})
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode !== 404)
        throw engineError(`cannot remove the container ${record.container.name}`, error)
    }
    // The follower ends with the container's log stream; stop it should it linger.
    await stopProcesses(
      record.processes.filter((p) => auxiliaryRoles.has(p.role)),
      2000,
      clock,
    )
    return {forced, durationMs: clock.now() - start}
  }

  async teardown(): Promise<string[]> {
    const warnings: string[] = []
    const filters = {label: [`${pocLabels.home}=${this.home.root}`]}
    const leftovers = await this.docker.listContainers({all: true, filters}).catch((error: unknown) => {
      warnings.push(`could not list the stack's containers: ${engineErrorMessage(error)}`)
      return []
    })
    for (const info of leftovers) {
      await this.docker
        .getContainer(info.Id)
        .remove({force: true})
        .catch((error: unknown) =>
          warnings.push(`could not remove ${info.Names?.[0] ?? info.Id}: ${engineErrorMessage(error)}`),
        )
    }
    try {
      const network = this.docker.getNetwork(this.networkName)
      const info = (await network.inspect()) as {Labels?: Record<string, string>}
      if (info.Labels?.[pocLabels.home] === this.home.root) await network.remove()
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode !== 404)
        warnings.push(`could not remove the network ${this.networkName}: ${engineErrorMessage(error)}`)
    }
    if (this.engine.service) {
      await stopProcesses([this.engine.service], 10_000)
      if (this.engine.address.socketPath) await rm(this.engine.address.socketPath, {force: true})
    }
    return warnings
  }

  engineState(): EngineState {
    const {socketPath, host, port, source} = this.engine.address
    return {socketPath, host, port, source, network: this.networkName, service: this.engine.service}
  }

  async close(): Promise<void> {}
}

function engineError(what: string, error: unknown): PocError {
  const message = engineErrorMessage(error)
  return new PocError(`${what}: ${message}`, {
    exitCode: ExitCode.unavailable,
    code: 'engine_error',
    cause: error,
    suggestions: [...podmanHintsFor(message), 'Check the engine with: poc doctor'],
  })
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? ''
  return line.length > 160 ? `${line.slice(0, 159)}…` : line
}
