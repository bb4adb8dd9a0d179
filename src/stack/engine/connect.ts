import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, rm} from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type Docker from 'dockerode'
import {type Clock, systemClock} from '../clock.js'
import {ExitCode, PocError, errorMessage} from '../errors.js'
import type {PocHome} from '../home.js'
import {lastLines} from '../log-tail.js'
import {findBinary, processesAlive, spawnDetached, stopProcesses} from '../native.js'
import type {ProcessRecord} from '../state.js'
import {podmanHintsFor, writePocContainersConf} from './containers-conf.js'

/**
 * Finding a container engine that speaks the Docker Engine API (SPEC §2.1): docker's daemon or
 * podman's service, one code path for both through dockerode. The order is the issue's:
 * DOCKER_HOST, /var/run/docker.sock, the podman sockets, then the podman binary, whose
 * `podman system service` poc starts itself as a managed process of the stack.
 */

export type EngineRuntimeName = 'docker' | 'podman'

/** Where an engine answers: a unix socket, or DOCKER_HOST's tcp address. */
export interface EngineAddress {
  socketPath?: string
  host?: string
  port?: number
  /** How it was found, as a user reads it: "DOCKER_HOST", "/var/run/docker.sock", "podman service started by poc". */
  source: string
}

export interface Engine {
  runtime: EngineRuntimeName
  /** What answered /_ping: podman answers with a Libpod-Api-Version header. */
  kind: EngineRuntimeName
  address: EngineAddress
  docker: Docker
  /** The `podman system service` poc started for this engine, when it did. */
  service?: ProcessRecord
}

const pingTimeoutMs = 2000
const serviceStartTimeoutMs = 30_000

/** The candidates a runtime looks at, in order, before starting podman's service itself. */
export function engineCandidates(
  runtime: EngineRuntimeName,
  env: NodeJS.ProcessEnv = process.env,
): EngineAddress[] {
  const fromEnv = env.DOCKER_HOST ? [parseDockerHost(env.DOCKER_HOST)] : []
  const docker: EngineAddress[] = [{socketPath: '/var/run/docker.sock', source: '/var/run/docker.sock'}]
  const xdg = env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'podman', 'podman.sock') : undefined
  const podman: EngineAddress[] = [
    ...(xdg ? [{socketPath: xdg, source: xdg}] : []),
    {socketPath: '/run/podman/podman.sock', source: '/run/podman/podman.sock'},
  ]
  return runtime === 'docker' ? [...fromEnv, ...docker] : [...fromEnv, ...podman]
}

/** `unix:///path` or `tcp://host:port` (plain HTTP; TLS and ssh:// are docker CLI features we do not speak). */
export function parseDockerHost(value: string): EngineAddress {
  if (value.startsWith('unix://')) return {socketPath: value.slice('unix://'.length), source: 'DOCKER_HOST'}
  const tcp = /^(?:tcp|http):\/\/([^:/]+):(\d+)\/?$/.exec(value)
  if (tcp) return {host: tcp[1], port: Number(tcp[2]), source: 'DOCKER_HOST'}
  throw new PocError(`DOCKER_HOST=${value} is not an address poc can use`, {
    exitCode: ExitCode.usage,
    code: 'bad_docker_host',
    suggestions: ['Set DOCKER_HOST to unix:///path/to/docker.sock or tcp://host:port, or unset it.'],
  })
}

/** GET /_ping: which engine answers there, or undefined when nothing does. */
export function ping(address: EngineAddress): Promise<EngineRuntimeName | undefined> {
  if (address.socketPath && !existsSync(address.socketPath)) return Promise.resolve(undefined)
  return new Promise((resolve) => {
    const request = http.request(
      {
        socketPath: address.socketPath,
        host: address.host,
        port: address.port,
        path: '/_ping',
        timeout: pingTimeoutMs,
      },
      (response) => {
        response.resume()
        const podman = response.headers['libpod-api-version'] !== undefined
        resolve(response.statusCode === 200 ? (podman ? 'podman' : 'docker') : undefined)
      },
    )
    request.on('timeout', () => request.destroy())
    request.on('error', () => resolve(undefined))
    request.end()
  })
}

// dockerode (with ssh2, grpc-js and protobufjs, some 2 MB of JavaScript) is loaded only once an
// engine answers: every command of a native stack would otherwise compile it at start.
let dockerodeModule: Promise<typeof Docker> | undefined

async function dockerode(address: EngineAddress): Promise<Docker> {
  dockerodeModule ??= import('dockerode').then((m) => m.default)
  const Client = await dockerodeModule
  return address.socketPath
    ? new Client({socketPath: address.socketPath})
    : new Client({host: address.host, port: address.port, protocol: 'http'})
}

/** The first candidate that answers, without starting anything. */
export async function findRunningEngine(
  runtime: EngineRuntimeName,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Engine | undefined> {
  for (const address of engineCandidates(runtime, env)) {
    const kind = await ping(address)
    if (kind) return {runtime, kind, address, docker: await dockerode(address)}
  }
  return undefined
}

export function podmanBinary(): string | undefined {
  return findBinary({name: 'podman', candidates: [], debianPackage: 'podman', searchPath: true})
}

/** Where the podman service poc starts listens: $POC_HOME/run/podman.sock, or a short path when that is too long for a socket. */
export function podmanSocketPath(home: PocHome): string {
  const preferred = path.join(home.root, 'run', 'podman.sock')
  // sun_path holds 108 bytes on Linux.
  if (Buffer.byteLength(preferred) < 100) return preferred
  const digest = createHash('sha256').update(home.root).digest('hex').slice(0, 12)
  return path.join(os.tmpdir(), `poc-podman-${digest}.sock`)
}

/**
 * `podman system service --time=0` on the stack's own socket, detached like every managed
 * process, with the caller's CONTAINERS_CONF or poc's own (containers-conf.ts).
 */
export async function startPodmanService(
  home: PocHome,
  options: {clock?: Clock; env?: NodeJS.ProcessEnv} = {},
): Promise<Engine> {
  const clock = options.clock ?? systemClock
  const env = options.env ?? process.env
  const binary = podmanBinary()
  if (!binary) throw noEngineError('podman')
  const runDir = path.join(home.root, 'run')
  await mkdir(runDir, {recursive: true})
  const socketPath = podmanSocketPath(home)
  await rm(socketPath, {force: true})
  const containersConf = env.CONTAINERS_CONF || (await writePocContainersConf(runDir))
  const passed = Object.fromEntries(
    ['HOME', 'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME'].flatMap((name) =>
      env[name] ? [[name, env[name] as string]] : [],
    ),
  )
  const logFile = home.logFile('podman')
  const service = await spawnDetached(
    {
      role: 'podman-service',
      command: binary,
      args: ['system', 'service', '--time=0', `unix://${socketPath}`],
      env: {...passed, CONTAINERS_CONF: containersConf},
      // Not $POC_HOME: aardvark-dns, which netavark starts from here, outlives this stack and serves
      // every podman network, so it must neither look like a stray process of ours nor share our group.
      cwd: '/',
      leaderOnly: true,
    },
    logFile,
  )
  const address: EngineAddress = {socketPath, source: 'podman service started by poc'}
  const deadline = clock.now() + serviceStartTimeoutMs
  for (;;) {
    if ((await ping(address)) === 'podman') break
    if (!processesAlive([service]) || clock.now() >= deadline) {
      await stopProcesses([service], 2000, clock)
      const tail = await lastLines(logFile, 20)
      throw new PocError(
        `podman system service did not answer on ${socketPath} within ${serviceStartTimeoutMs / 1000}s`,
        {
          code: 'engine_start_failed',
          details: tail.length > 0 ? [`last lines of ${logFile}:`, ...tail] : [],
          suggestions: [...podmanHintsFor(tail.join('\n')), 'Check the engine with: poc doctor'],
        },
      )
    }
    await clock.sleep(100)
  }
  return {runtime: 'podman', kind: 'podman', address, docker: await dockerode(address), service}
}

/**
 * The engine for `--runtime docker|podman`: one that answers, else (podman) the service poc
 * starts itself. The caller records `service` in the stack state so `poc down` stops it.
 */
export async function openEngine(
  runtime: EngineRuntimeName,
  home: PocHome,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Engine> {
  const running = await findRunningEngine(runtime, env)
  if (running) return running
  if (runtime === 'podman') {
    // The service a running stack of this home started: shared, never started twice on one socket.
    const own: EngineAddress = {socketPath: podmanSocketPath(home), source: 'podman service started by poc'}
    if ((await ping(own)) === 'podman')
      return {runtime, kind: 'podman', address: own, docker: await dockerode(own)}
    if (podmanBinary()) return startPodmanService(home, {env})
  }
  throw noEngineError(runtime, env)
}

/** An engine recorded in state.json, answering again, or undefined when it no longer does. */
export async function reconnect(
  address: EngineAddress,
  runtime: EngineRuntimeName,
): Promise<Engine | undefined> {
  const kind = await ping(address)
  return kind ? {runtime, kind, address, docker: await dockerode(address)} : undefined
}

/** `auto` (SPEC §2.1): docker if its engine answers, else podman if its socket or binary is there, else undefined (native). */
export async function autoEngineRuntime(
  env: NodeJS.ProcessEnv = process.env,
): Promise<EngineRuntimeName | undefined> {
  if (await findRunningEngine('docker', env)) return 'docker'
  if ((await findRunningEngine('podman', env)) || podmanBinary()) return 'podman'
  return undefined
}

export function describeAddress(address: EngineAddress): string {
  const where = address.socketPath ?? `tcp://${address.host}:${address.port}`
  return address.source === where ? where : `${where} (${address.source})`
}

function noEngineError(runtime: EngineRuntimeName, env: NodeJS.ProcessEnv = process.env): PocError {
  const looked = engineCandidates(runtime, env).map(describeAddress)
  return new PocError(
    `no ${runtime} engine answers (looked at ${looked.join(', ')}${runtime === 'podman' ? ' and for the podman binary' : ''})`,
    {
      exitCode: ExitCode.unavailable,
      code: 'engine_unavailable',
      suggestions:
        runtime === 'podman'
          ? [
              'Install podman: apt-get install -y podman runc (or run: npm run setup)',
              'Or use --runtime native.',
            ]
          : [
              'Start the docker daemon, or point DOCKER_HOST at one.',
              'Or use --runtime podman (poc starts its service itself), or --runtime native.',
            ],
    },
  )
}

export function engineErrorMessage(error: unknown): string {
  const {json, reason, statusCode} = (error ?? {}) as {
    json?: {message?: string}
    reason?: string
    statusCode?: number
  }
  if (json?.message) return json.message
  if (statusCode) return `${statusCode} ${reason ?? ''}`.trim()
  return errorMessage(error)
}
