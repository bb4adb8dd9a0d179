import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {gatewayFiles} from '../contract/files.js'
import {packageRoot} from '../lib/package-root.js'
import {gatewayConfig} from '../services/gateway/config.js'
import type {PocHome} from './home.js'
import {Redis} from 'ioredis'
import {type ObservabilityAddresses, grafanaFiles, lokiFiles, promtailFiles} from './observability-files.js'
import {scrapeTargets, targetsNotUp, writePrometheusFiles} from './prometheus-config.js'
import {findBinary} from './native.js'
import {type ReadinessCheck, allOf, amqpConnect, http, redisPing} from './readiness.js'
import {
  cephS3Env,
  cephS3Script,
  containerDataDir,
  runCephInit,
  s3Ready,
  s3ServerPassEnv,
  type S3ServerSettings,
  s3ServerSettings,
  writeS3ServerSettings,
} from './s3-server.js'
import {ensureAdminToken, ensureGatewaySecrets, gatewaySecretFiles, secretsDir} from './secrets.js'

/**
 * The component catalog: the single source of truth for names, ports, dependencies,
 * readiness and how each runtime starts a component. `poc up`, `poc status`, the smoke
 * checks and the compose files all read from here.
 */

export const componentNames = [
  'rabbitmq',
  'redis',
  'minio',
  'prometheus',
  'grafana',
  'loki',
  'promtail',
  'pm',
  'fi',
  'sales',
  'credit',
  'contract',
  'invoice-worker',
  'gateway',
  'ui',
] as const
export type ComponentName = (typeof componentNames)[number]

/** Which `--with` value enables a component; `core` is the default set. */
export const groups = ['core', 'minio', 'observability'] as const
export type Group = (typeof groups)[number]

export const runtimeNames = ['native', 'docker', 'podman'] as const
export type RuntimeName = (typeof runtimeNames)[number]

export interface PortSpec {
  name: string
  port: number
  /** Internal ports (Erlang's epmd and distribution) exist only under the native runtime and get no URL. */
  internal?: boolean
}

export const loopback = '127.0.0.1'

/** What a component's recipes see once ports are resolved for this stack. */
export interface ComponentContext {
  name: ComponentName
  host: string
  ports: Record<string, number>
  home: PocHome
  dataDir: string
  logFile: string
  portOffset: number
  /** Resolved ports of any catalog component, for configs that point at others (Prometheus targets). */
  portsOf(name: ComponentName): Record<string, number>
  /** Where this component runs: a host process, a container on the host's network, or one on the stack's network. */
  placement: Placement
  /** The address and ports the component's own server listens on, where it runs (inside its container or on the host). */
  bind: {host: string; ports: Record<string, number>}
  /** `host:port` at which this component reaches another's port: an alias on the stack's network, or 127.0.0.1. */
  reach(name: ComponentName, port: string): string
  /** Whether the stack being started has this (optional) component: poc up's selection and what already runs. */
  inStack(name: ComponentName): boolean
  /**
   * Set when poc up starts a service's process before its dependencies are ready: the process
   * loads its code, then waits until this file exists before it starts (see bin/service.js).
   */
  startGate?: string
}

/** process: a host process. host-container: a container in the host's network. network-container: a container on the stack's network. */
export type Placement = 'process' | 'host-container' | 'network-container'

export interface BinaryRequirement {
  /** The name a user knows, e.g. rabbitmq-server. */
  name: string
  /** Absolute paths tried first, then `name` on PATH. */
  candidates: string[]
  debianPackage: string
  /** Searched on PATH after the candidates; false when only the candidates are right (the /usr/sbin RabbitMQ wrapper switches users). */
  searchPath: boolean
}

export interface NativeProcessSpec {
  /** Role inside the component: "server", or a helper such as "epmd". Started in order, stopped in reverse. */
  role: string
  command: string
  args: string[]
  env: Record<string, string>
  cwd: string
  /** Stop this pid alone, never its group or children: podman's service leaves aardvark-dns behind, which serves every stack. */
  leaderOnly?: boolean
}

export interface NativeRecipe {
  binaries: BinaryRequirement[]
  /** Write config files and create directories before the processes start. */
  prepare?(ctx: ComponentContext): Promise<void>
  processes(ctx: ComponentContext, binaries: Record<string, string>): NativeProcessSpec[]
  /**
   * Where the server writes its own pid once it runs, when the process poc starts is only its
   * launcher (RabbitMQ: a /bin/sh script that starts beam.smp). Once ready, that pid is recorded
   * as the server, so `poc status` shows it and a kill -9 of it shows the component down.
   */
  pidFile?(ctx: ComponentContext): string
}

/**
 * How the container runtimes run a component. The official image and poc's local image
 * (`poc images build`, from Debian packages) take the same arguments and mounts, so the two
 * behave the same; generated configs are written to the data directory and mounted.
 */
export interface ContainerRecipe {
  /** The official image, fully qualified (podman resolves no short names without a registries.conf). */
  image: string
  /** The local image recipe `poc images build` has for it, used offline or when a pull fails. */
  localImage?: LocalImageName
  entrypoint?: string[]
  cmd?(ctx: ComponentContext): string[]
  env?(ctx: ComponentContext): Record<string, string>
  /** Write config files into ctx.dataDir before the container is created. */
  prepare?(ctx: ComponentContext): Promise<void>
  /** Host paths bound into the container. */
  binds?(ctx: ComponentContext): Array<{source: string; target: string; readOnly?: boolean}>
  /**
   * Directories under ctx.dataDir bound read-write at `target`: a container's data lives in
   * $POC_HOME/data/<component>/ as a native server's does, so `poc reset` and `poc down --volumes`
   * work the same under every runtime. Containers run as the caller's uid:gid, so the files are theirs.
   */
  data?: Array<{dir: string; target: string}>
  /** A fixed hostname: RabbitMQ names its node (and its data) after it. */
  hostname?: string
  /**
   * It reaches our services (Prometheus scrapes them), or one that does (Grafana, Loki, Promtail
   * go where Prometheus goes): while the services are host processes (bound to 127.0.0.1) it
   * shares the host's network, listening on ctx.bind; with --services-in-containers it joins
   * the stack's network.
   */
  reachesServices?: boolean
}

/**
 * How `poc reset` puts a component back to its starting data. A running one is reset through
 * its own admin route, needs nothing (it keeps no state of its own), or is reset by poc
 * directly (RabbitMQ's queues purged, Redis' keys deleted, MinIO's prefixes cleared); a stopped
 * one loses its data directory.
 */
export interface ResetRecipe {
  running: {route: string; detail: string} | 'stateless' | 'direct'
  /** What its data directory holds, for the report. */
  data: string
  /** Reset only when asked: `--gateway` (its WAL is an audit record), `--with-minio`. */
  optIn?: 'gateway' | 'minio'
  /** Files of its data directory a reset keeps (only `down --volumes` removes them). */
  keep?: readonly string[]
}

export const adminResetRoute = '/admin/reset'

export const localImageNames = ['rabbitmq', 'redis', 'minio', 'prometheus', 'services'] as const
export type LocalImageName = (typeof localImageNames)[number]

export interface ComponentSpec {
  name: ComponentName
  summary: string
  kind: 'infrastructure' | 'service'
  group: Group
  ports: PortSpec[]
  dependsOn: ComponentName[]
  startTimeoutMs: number
  stopGraceMs: number
  readiness(ctx: ComponentContext): ReadinessCheck
  urls(ctx: ComponentContext): Record<string, string>
  /** How the native runtime starts it; absent when it has no native form. */
  native?: NativeRecipe
  /** How docker and podman run it; for our services, with --services-in-containers. */
  container?: ContainerRecipe
  /** What `poc reset` does with it (SPEC §2.3); absent: a reset leaves it alone (Prometheus keeps its data). */
  reset?: ResetRecipe
  /** The version the running server reports, for `poc status` (what really runs, not what was asked for). */
  version?(ctx: ComponentContext, signal: AbortSignal): Promise<string | undefined>
  /** Environment of our own services, the same under every runtime. */
  env?(ctx: ComponentContext): Record<string, string>
  /** Variables passed through from the caller of `poc up` when set (FAIL_RATE=1 poc up). */
  passEnv?: string[]
}

const defaultStartTimeoutMs = 60_000
const defaultStopGraceMs = 10_000

const guestAuthorization = `Basic ${Buffer.from('guest:guest').toString('base64')}`

/** The plugins every RabbitMQ of a stack runs, natively and in images. */
export const rabbitmqPlugins = ['rabbitmq_management', 'rabbitmq_prometheus'] as const

const rabbitmq: ComponentSpec = {
  name: 'rabbitmq',
  summary: 'RabbitMQ broker with the management plugin',
  kind: 'infrastructure',
  group: 'core',
  ports: [
    {name: 'amqp', port: 5672},
    {name: 'management', port: 15672},
    // rabbitmq_prometheus: the queue depths, DLQ depths and consumers the dashboards show.
    {name: 'prometheus', port: 15692},
    {name: 'epmd', port: 14369, internal: true},
    {name: 'dist', port: 25672, internal: true},
  ],
  dependsOn: [],
  startTimeoutMs: 90_000,
  reset: {
    running: 'direct',
    data: 'every queue and message; the services declare the topology again when they start',
  },
  // A clean RabbitMQ shutdown takes about 6 s here; give it room before SIGKILL.
  stopGraceMs: 30_000,
  readiness: (ctx) =>
    allOf(
      amqpConnect(amqpUrl(ctx), `amqp://${ctx.host}:${ctx.ports.amqp}`),
      // Every virtual host running on the node; /api/healthchecks/node is deprecated and logs a
      // warning on every call.
      http(`http://${ctx.host}:${ctx.ports.management}/api/health/checks/virtual-hosts`, {
        headers: {authorization: guestAuthorization},
        body: (json) =>
          (json as {status?: string}).status === 'ok' ? undefined : `node health: ${JSON.stringify(json)}`,
      }),
    ),
  urls: (ctx) => ({
    amqp: amqpUrl(ctx),
    management: `http://${ctx.host}:${ctx.ports.management}`,
  }),
  container: {
    image: 'docker.io/library/rabbitmq:3.13-management',
    localImage: 'rabbitmq',
    hostname: 'rabbitmq',
    prepare: writeRabbitmqConfig,
    binds: (ctx) => [
      {
        source: path.join(ctx.dataDir, 'rabbitmq.conf'),
        target: '/etc/rabbitmq/rabbitmq.conf',
        readOnly: true,
      },
      {
        source: path.join(ctx.dataDir, 'enabled_plugins'),
        target: '/etc/rabbitmq/enabled_plugins',
        readOnly: true,
      },
    ],
    data: [{dir: 'lib', target: '/var/lib/rabbitmq'}],
  },
  version: async (ctx, signal) => {
    const response = await fetch(`http://${ctx.host}:${ctx.ports.management}/api/overview`, {
      headers: {authorization: guestAuthorization},
      signal,
    })
    if (!response.ok) return undefined
    return ((await response.json()) as {rabbitmq_version?: string}).rabbitmq_version
  },
  native: {
    binaries: [
      {
        name: 'rabbitmq-server',
        // The real launcher: /usr/sbin/rabbitmq-server switches to the rabbitmq user and its system-wide node.
        candidates: ['/usr/lib/rabbitmq/bin/rabbitmq-server'],
        debianPackage: 'rabbitmq-server',
        searchPath: false,
      },
      {name: 'epmd', candidates: ['/usr/bin/epmd'], debianPackage: 'erlang-base', searchPath: true},
    ],
    prepare: async (ctx) => {
      const dir = ctx.dataDir
      await mkdir(path.join(dir, 'home'), {recursive: true})
      await mkdir(path.join(dir, 'mnesia'), {recursive: true})
      await mkdir(path.join(dir, 'log'), {recursive: true})
      await writeRabbitmqConfig(ctx)
      // Our own (empty) env file, so /etc/rabbitmq/rabbitmq-env.conf of a system install is not read.
      await writeFile(path.join(dir, 'rabbitmq-env.conf'), '')
    },
    pidFile: (ctx) => path.join(ctx.dataDir, 'rabbitmq.pid'),
    processes: (ctx, bin) => {
      const dir = ctx.dataDir
      const erlangEnv = {
        HOME: path.join(dir, 'home'),
        ERL_EPMD_PORT: String(ctx.ports.epmd),
        ERL_EPMD_ADDRESS: ctx.host,
        ERL_CRASH_DUMP: path.join(dir, 'log', 'erl_crash.dump'),
      }
      return [
        {
          // Our own epmd in the foreground: a daemonised one would outlive `poc down`.
          role: 'epmd',
          command: bin.epmd as string,
          args: ['-port', String(ctx.ports.epmd)],
          env: erlangEnv,
          cwd: dir,
        },
        {
          role: 'server',
          command: bin['rabbitmq-server'] as string,
          args: [],
          env: {
            ...erlangEnv,
            RABBITMQ_NODENAME: 'poc@localhost',
            RABBITMQ_NODE_IP_ADDRESS: ctx.host,
            RABBITMQ_DIST_PORT: String(ctx.ports.dist),
            RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
            RABBITMQ_LOG_BASE: path.join(dir, 'log'),
            RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
            RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
            RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
            RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
            RABBITMQ_PID_FILE: path.join(dir, 'rabbitmq.pid'),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `-kernel inet_dist_use_interface {${ctx.host.replaceAll('.', ',')}}`,
          },
          cwd: dir,
        },
      ]
    },
  },
}

/** rabbitmq.conf and enabled_plugins for where the broker runs: the same file natively and in either image. */
async function writeRabbitmqConfig(ctx: ComponentContext): Promise<void> {
  await mkdir(ctx.dataDir, {recursive: true})
  const inContainer = ctx.placement !== 'process'
  await writeFile(
    path.join(ctx.dataDir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = ${ctx.bind.host}:${ctx.bind.ports.amqp}`,
      `management.tcp.ip = ${ctx.bind.host}`,
      `management.tcp.port = ${ctx.bind.ports.management}`,
      `prometheus.tcp.ip = ${ctx.bind.host}`,
      `prometheus.tcp.port = ${ctx.bind.ports.prometheus}`,
      // In a container, clients come through the published port from the bridge, not from loopback.
      ...(inContainer ? ['loopback_users.guest = false'] : []),
      // Logs go to stdout, which is the component's log file, so `poc logs rabbitmq` shows them.
      'log.console = true',
      'log.console.level = info',
      'log.console.use_colors = off',
      'log.file = false',
      '',
    ].join('\n'),
  )
  await writeFile(path.join(ctx.dataDir, 'enabled_plugins'), `[${rabbitmqPlugins.join(',')}].\n`)
}

function amqpUrl(ctx: ComponentContext): string {
  return `amqp://guest:guest@${ctx.host}:${ctx.ports.amqp}`
}

const redis: ComponentSpec = {
  name: 'redis',
  summary: 'Redis for idempotency keys and caches',
  kind: 'infrastructure',
  group: 'core',
  ports: [{name: 'redis', port: 6379}],
  dependsOn: [],
  reset: {running: 'direct', data: 'the idempotency keys'},
  startTimeoutMs: defaultStartTimeoutMs,
  stopGraceMs: defaultStopGraceMs,
  readiness: (ctx) => redisPing(ctx.host, ctx.ports.redis as number),
  urls: (ctx) => ({redis: `redis://${ctx.host}:${ctx.ports.redis}`}),
  container: {
    image: 'docker.io/library/redis:7-alpine',
    localImage: 'redis',
    // Protected mode refuses clients that come through the published port from the bridge.
    cmd: () => [
      'redis-server',
      '--protected-mode',
      'no',
      '--appendonly',
      'yes',
      '--dir',
      '/data',
      '--save',
      '',
    ],
    data: [{dir: 'data', target: '/data'}],
  },
  version: async (ctx, signal) => {
    const client = new Redis({
      host: ctx.host,
      port: ctx.ports.redis,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    })
    client.on('error', () => undefined)
    signal.addEventListener('abort', () => client.disconnect(), {once: true})
    try {
      await client.connect()
      return /redis_version:(\S+)/.exec(await client.info('server'))?.[1]
    } finally {
      client.disconnect()
    }
  },
  native: {
    binaries: [
      {
        name: 'redis-server',
        candidates: ['/usr/bin/redis-server'],
        debianPackage: 'redis-server',
        searchPath: true,
      },
    ],
    prepare: async (ctx) => {
      await mkdir(ctx.dataDir, {recursive: true})
    },
    processes: (ctx, bin) => [
      {
        role: 'server',
        command: bin['redis-server'] as string,
        // Everything on the command line: no system redis.conf is read.
        args: [
          '--port',
          String(ctx.ports.redis),
          '--bind',
          ctx.host,
          '--dir',
          ctx.dataDir,
          '--appendonly',
          'yes',
          '--daemonize',
          'no',
          '--logfile',
          '',
          '--save',
          '',
        ],
        env: {},
        cwd: ctx.dataDir,
      },
    ],
  },
}

const prometheus: ComponentSpec = {
  name: 'prometheus',
  summary: 'Prometheus scraping the services, RabbitMQ and itself',
  kind: 'infrastructure',
  group: 'observability',
  ports: [{name: 'http', port: 9090}],
  // What it scrapes (prometheus-config.ts): started last, it is ready once it has scraped them all.
  dependsOn: ['rabbitmq', 'pm', 'fi', 'sales', 'credit', 'contract', 'invoice-worker', 'gateway', 'ui'],
  startTimeoutMs: defaultStartTimeoutMs,
  stopGraceMs: defaultStopGraceMs,
  readiness: (ctx) =>
    allOf(
      http(`http://${ctx.host}:${ctx.ports.http}/-/ready`),
      http(`http://${ctx.host}:${ctx.ports.http}/api/v1/targets?state=active`, {body: targetsNotUp}),
    ),
  urls: (ctx) => ({http: `http://${ctx.host}:${ctx.ports.http}`}),
  container: {
    image: 'docker.io/prom/prometheus:latest',
    localImage: 'prometheus',
    prepare: async (ctx) => {
      await mkdir(ctx.dataDir, {recursive: true})
      await writePrometheusFiles(ctx.dataDir, scrapeTargets(catalog, ctx.reach))
    },
    cmd: (ctx) => [
      '--config.file=/etc/prometheus/prometheus.yml',
      '--storage.tsdb.path=/prometheus',
      `--web.listen-address=${ctx.bind.host}:${ctx.bind.ports.http}`,
    ],
    binds: (ctx) => [
      {
        source: path.join(ctx.dataDir, 'prometheus.yml'),
        target: '/etc/prometheus/prometheus.yml',
        readOnly: true,
      },
      {source: path.join(ctx.dataDir, 'rules'), target: '/etc/prometheus/rules', readOnly: true},
    ],
    data: [{dir: 'tsdb', target: '/prometheus'}],
    reachesServices: true,
  },
  version: async (ctx, signal) => {
    const response = await fetch(`http://${ctx.host}:${ctx.ports.http}/api/v1/status/buildinfo`, {signal})
    if (!response.ok) return undefined
    return ((await response.json()) as {data?: {version?: string}}).data?.version
  },
  native: {
    binaries: [
      {
        name: 'prometheus',
        candidates: ['/usr/bin/prometheus'],
        debianPackage: 'prometheus',
        searchPath: true,
      },
    ],
    prepare: async (ctx) => {
      await mkdir(path.join(ctx.dataDir, 'tsdb'), {recursive: true})
      await writePrometheusFiles(ctx.dataDir, scrapeTargets(catalog, ctx.reach))
    },
    processes: (ctx, bin) => [
      {
        role: 'server',
        command: bin.prometheus as string,
        args: [
          `--config.file=${path.join(ctx.dataDir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${path.join(ctx.dataDir, 'tsdb')}`,
          `--web.listen-address=${ctx.host}:${ctx.ports.http}`,
        ],
        env: {},
        cwd: ctx.dataDir,
      },
    ],
  },
}

function containerOnly(
  name: ComponentName,
  summary: string,
  ports: PortSpec[],
  container: ContainerRecipe,
  healthPath: string,
  dependsOn: ComponentName[] = [],
): ComponentSpec {
  return {
    name,
    summary,
    kind: 'infrastructure',
    group: 'observability',
    ports,
    dependsOn,
    startTimeoutMs: defaultStartTimeoutMs,
    stopGraceMs: defaultStopGraceMs,
    readiness: (ctx) => http(`http://${ctx.host}:${Object.values(ctx.ports)[0]}${healthPath}`),
    urls: (ctx) =>
      Object.fromEntries(Object.entries(ctx.ports).map(([n, p]) => [n, `http://${ctx.host}:${p}`])),
    container,
  }
}

/** A MinIO server, when one is installed (not in Debian): preferred natively over Ceph. */
const minioBinary: BinaryRequirement = {
  name: 'minio',
  candidates: [],
  debianPackage: 'minio (not in Debian: https://min.io/download)',
  searchPath: true,
}

/** Debian's Ceph: the S3 server natively where no minio binary is installed (s3-server.ts). */
const cephBinaries: BinaryRequirement[] = [
  {name: 'ceph-mon', candidates: ['/usr/bin/ceph-mon'], debianPackage: 'ceph-mon', searchPath: true},
  {name: 'ceph-osd', candidates: ['/usr/bin/ceph-osd'], debianPackage: 'ceph-osd', searchPath: true},
  {name: 'radosgw', candidates: ['/usr/bin/radosgw'], debianPackage: 'radosgw', searchPath: true},
  {name: 'ceph', candidates: ['/usr/bin/ceph'], debianPackage: 'ceph-common', searchPath: true},
  {name: 'curl', candidates: ['/usr/bin/curl'], debianPackage: 'curl', searchPath: true},
  {name: 'bash', candidates: ['/bin/bash', '/usr/bin/bash'], debianPackage: 'bash', searchPath: true},
]

/** Where the script of the Ceph form is written natively. */
function cephScriptFile(ctx: ComponentContext): string {
  return path.join(ctx.dataDir, 'poc-ceph-s3')
}

/**
 * Object storage for the seed's compliance documents and timesheet attachments (issue 18): an
 * S3 server on `api`, its user and bucket from MINIO_ROOT_USER, MINIO_ROOT_PASSWORD and
 * MINIO_BUCKET. Natively a minio binary when installed, else Debian's Ceph (monitor, OSD and
 * radosgw as three processes); in containers the official image, else poc's local one (the same
 * Ceph, in one container). Its data lives in data/ under the component's directory in every form.
 */
const minio: ComponentSpec = {
  name: 'minio',
  summary: "S3 object storage (MinIO, or radosgw from Debian's Ceph)",
  kind: 'infrastructure',
  group: 'minio',
  ports: [
    {name: 'api', port: 9000},
    {name: 'console', port: 9001},
    // Ceph's monitor and the OSD's four messengers (public, cluster, two heartbeats), pinned so
    // that two stacks never meet on Ceph's default 6800-7300.
    {name: 'mon', port: 6812, internal: true},
    {name: 'osd', port: 6808, internal: true},
    {name: 'osd2', port: 6809, internal: true},
    {name: 'osd3', port: 6810, internal: true},
    {name: 'osd4', port: 6811, internal: true},
  ],
  dependsOn: [],
  // A first start formats the OSD and creates radosgw's pools (~15 s here, more under load).
  startTimeoutMs: 120_000,
  stopGraceMs: 20_000,
  reset: {
    running: 'direct',
    data: 'compliance/ and timesheets/ of every bucket, through the S3 API',
    optIn: 'minio',
  },
  passEnv: s3ServerPassEnv,
  readiness: s3Ready,
  urls: (ctx) => ({
    api: `http://${ctx.host}:${ctx.ports.api}`,
    console: `http://${ctx.host}:${ctx.ports.console}`,
  }),
  container: {
    image: 'docker.io/minio/minio:latest',
    localImage: 'minio',
    // The official image's arguments; poc's local image reads the same (its data in /data).
    cmd: () => ['server', containerDataDir, '--console-address', ':9001'],
    env: (ctx) => cephS3Env(containerDataDir, ctx.bind, s3ServerSettings()),
    prepare: async (ctx) => {
      await mkdir(ctx.dataDir, {recursive: true})
      await writeS3ServerSettings(ctx.dataDir, s3ServerSettings())
    },
    data: [{dir: 'data', target: containerDataDir}],
  },
  native: {
    get binaries() {
      return findBinary(minioBinary) ? [minioBinary] : cephBinaries
    },
    prepare: async (ctx) => {
      const data = path.join(ctx.dataDir, 'data')
      await mkdir(data, {recursive: true})
      const settings = s3ServerSettings()
      await writeS3ServerSettings(ctx.dataDir, settings)
      if (findBinary(minioBinary)) return
      await writeFile(cephScriptFile(ctx), cephS3Script, {mode: 0o755})
      await runCephInit(cephScriptFile(ctx), cephS3Env(data, ctx, settings))
    },
    processes: (ctx, bin) => {
      const data = path.join(ctx.dataDir, 'data')
      const settings = s3ServerSettings()
      if (bin.minio) {
        // Not testable here (no MinIO build in Debian): MinIO's own flags, readiness its /minio/health/ready.
        return [
          {
            role: 'server',
            command: bin.minio,
            args: [
              'server',
              data,
              '--address',
              `${ctx.host}:${ctx.ports.api}`,
              '--console-address',
              `${ctx.host}:${ctx.ports.console}`,
            ],
            env: {
              HOME: ctx.dataDir,
              MINIO_ROOT_USER: settings.user,
              MINIO_ROOT_PASSWORD: settings.password,
            },
            cwd: ctx.dataDir,
          },
        ]
      }
      return ['mon', 'osd', 'rgw'].map((role) => ({
        role,
        command: bin.bash as string,
        args: [cephScriptFile(ctx), role],
        env: cephS3Env(data, ctx, settings),
        cwd: ctx.dataDir,
      }))
    },
  },
}

/** Where Grafana and Promtail reach Prometheus and Loki from where they run. */
function observabilityAddresses(ctx: ComponentContext): ObservabilityAddresses {
  return {
    prometheusUrl: `http://${ctx.reach('prometheus', 'http')}`,
    lokiUrl: `http://${ctx.reach('loki', 'http')}`,
  }
}

/** Where a service listens and keeps its files. */
function ownFilesEnv(ctx: ComponentContext): Record<string, string> {
  return {
    HOST: ctx.bind.host,
    PORT: String(ctx.bind.ports.http),
    DATA_DIR: ctx.dataDir,
    POC_HOME: ctx.home.root,
  }
}

/** What every service on the bus needs to find the infrastructure and its own files. */
function serviceEnv(ctx: ComponentContext): Record<string, string> {
  const {HOST, PORT, ...files} = ownFilesEnv(ctx)
  return {
    HOST: HOST as string,
    PORT: PORT as string,
    AMQP_URL: `amqp://guest:guest@${ctx.reach('rabbitmq', 'amqp')}`,
    REDIS_URL: `redis://${ctx.reach('redis', 'redis')}`,
    ...files,
  }
}

/**
 * pm's object store, when `minio` is in the stack (poc up --with minio): USE_MINIO, where pm
 * reaches the server (an alias on the stack's network, or 127.0.0.1), where the host reaches it
 * (the published port: the host part of presigned URLs), its credentials and the bucket.
 * Without minio, nothing: pm keeps its attachments as today.
 */
export function objectStoreEnv(ctx: ComponentContext): Record<string, string> {
  if (!ctx.inStack('minio')) return {}
  const [host, port] = ctx.reach('minio', 'api').split(':') as [string, string]
  return {
    ...hostObjectStoreEnv(ctx.portsOf('minio')),
    MINIO_ENDPOINT: host,
    MINIO_PORT: port,
  }
}

/** The object store as a process on the host reaches it (poc produce, smoke): the published port, on the loopback. */
export function hostObjectStoreEnv(
  minioPorts: Record<string, number>,
  server: S3ServerSettings = s3ServerSettings(),
): Record<string, string> {
  const port = String(minioPorts.api)
  return {
    USE_MINIO: 'true',
    MINIO_ENDPOINT: loopback,
    MINIO_PORT: port,
    MINIO_PUBLIC_ENDPOINT: loopback,
    MINIO_PUBLIC_PORT: port,
    // The server's root user (MINIO_ROOT_USER/PASSWORD, the seed's minioadmin) and bucket.
    MINIO_ACCESS_KEY: server.user,
    MINIO_SECRET_KEY: server.password,
    MINIO_BUCKET: server.bucket,
  }
}

/** The variable that names a service process's start gate (ComponentContext.startGate). */
export const startGateVariable = 'POC_START_GATE'

/**
 * Services run as `node bin/service.js <name>` under every runtime (ARCHITECTURE.md): the lean
 * entry point that loads only the service, not the CLI (`poc service run <name>` is the same).
 */
const nodeService: NativeRecipe = {
  binaries: [],
  prepare: async (ctx) => {
    await mkdir(ctx.dataDir, {recursive: true})
  },
  processes: (ctx) => [
    {
      role: 'server',
      command: process.execPath,
      args: [path.join(packageRoot, 'bin', 'service.js'), ctx.name],
      env: {
        ...serviceEnvironment(getComponent(ctx.name), ctx),
        ...(ctx.startGate ? {[startGateVariable]: ctx.startGate} : {}),
      },
      cwd: ctx.dataDir,
    },
  ],
}

/** A service's whole environment, the same as a process or in a container: what it passes through from the caller, then its own. */
export function serviceEnvironment(
  spec: ComponentSpec,
  ctx: ComponentContext,
  callerEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const passed = Object.fromEntries(
    (spec.passEnv ?? []).flatMap((name) =>
      callerEnv[name] === undefined ? [] : [[name, callerEnv[name] as string]],
    ),
  )
  return {...passed, ...(spec.env?.(ctx) ?? {})}
}

const sharedServiceEnv = ['NUM_SHARDS', 'IDEMP_TTL_MS', 'LOG_LEVEL']

/** Services whose only state is their outbox (and idempotency keys, which live in Redis). */
const statelessReset: ResetRecipe = {running: 'stateless', data: 'its outbox'}

/**
 * The gateway's tuning variables (SPEC §4.5), taken from the caller
 * (`BACKPRESSURE_INFLIGHT_MAX=5 poc up`): every variable its config schema reads, so a new knob
 * needs no second list. What poc sets itself (HOST, PORT, the broker's URL, the secret files)
 * wins over the caller's; JWT_HS256_SECRET and AUDIT_HMAC_KEY set by the caller win over the
 * files in $POC_HOME/secrets (and poc token signs with it too).
 */
const gatewayTuning = Object.keys(gatewayConfig.shape)

interface ServiceOptions {
  /** How poc reset handles it: its admin route (what that resets) or nothing while it runs; absent: it keeps no state. */
  reset?: ResetRecipe
  /** What it needs running first; by default the broker and Redis (the gateway: the broker). */
  dependsOn?: ComponentName[]
  /** It speaks to RabbitMQ and Redis (the default): their URLs are in its environment. */
  usesInfrastructure?: boolean
  /** Variables of the caller's environment this service also reads (e.g. FAIL_RATE). */
  passEnv?: string[]
  /** Settings that depend on the stack, beyond serviceEnv (e.g. another service's URL). */
  env?: (ctx: ComponentContext) => Record<string, string>
  /** Runs before the process starts, after its data dir exists. */
  prepare?: (ctx: ComponentContext) => Promise<void>
}

function service(name: ComponentName, summary: string, port: number, options: ServiceOptions): ComponentSpec {
  // Every service's admin routes refuse all requests without the token, so it exists before any starts.
  const prepare = async (ctx: ComponentContext): Promise<void> => {
    await ensureAdminToken(ctx.home)
    await options.prepare?.(ctx)
  }
  return {
    name,
    summary,
    kind: 'service',
    group: 'core',
    ports: [{name: 'http', port}],
    dependsOn: options.dependsOn ?? (name === 'gateway' ? ['rabbitmq'] : ['rabbitmq', 'redis']),
    startTimeoutMs: defaultStartTimeoutMs,
    stopGraceMs: defaultStopGraceMs,
    readiness: (ctx) => http(`http://${ctx.host}:${ctx.ports.http}/health`),
    urls: (ctx) => ({http: `http://${ctx.host}:${ctx.ports.http}`}),
    env: (ctx) => ({
      ...(options.usesInfrastructure === false ? ownFilesEnv(ctx) : serviceEnv(ctx)),
      ...options.env?.(ctx),
    }),
    passEnv: [
      ...(options.usesInfrastructure === false ? ['LOG_LEVEL'] : sharedServiceEnv),
      ...(options.passEnv ?? []),
    ],
    ...(options.reset ? {reset: options.reset} : {}),
    // --services-in-containers: the image built from this repo, with $POC_HOME at the same path.
    container: {
      image: 'localhost/poc/services',
      localImage: 'services',
      cmd: () => [name],
      prepare: async (ctx) => {
        await mkdir(ctx.dataDir, {recursive: true})
        await prepare(ctx)
      },
      binds: (ctx) => [{source: ctx.home.root, target: ctx.home.root}],
    },
    native: {
      ...nodeService,
      prepare: async (ctx) => {
        await nodeService.prepare?.(ctx)
        await prepare(ctx)
      },
    },
  }
}

export const catalog: readonly ComponentSpec[] = [
  rabbitmq,
  redis,
  minio,
  prometheus,
  containerOnly(
    'grafana',
    'Grafana dashboards',
    [{name: 'http', port: 3000}],
    {
      image: 'docker.io/grafana/grafana:latest',
      reachesServices: true,
      binds: (ctx) => grafanaFiles(observabilityAddresses(ctx)).mounts,
      env: (ctx) => ({
        ...grafanaFiles(observabilityAddresses(ctx)).env,
        // On the host's network (next to a host-network Prometheus) it must listen on its own port.
        GF_SERVER_HTTP_ADDR: ctx.bind.host,
        GF_SERVER_HTTP_PORT: String(ctx.bind.ports.http),
      }),
    },
    '/api/health',
    ['prometheus', 'loki'],
  ),
  containerOnly(
    'loki',
    'Loki log store',
    [{name: 'http', port: 3100}],
    {
      image: 'docker.io/grafana/loki:latest',
      reachesServices: true,
      binds: () => lokiFiles().mounts,
      cmd: (ctx) => [
        '-config.file=/etc/loki/local-config.yaml',
        `-server.http-listen-address=${ctx.bind.host}`,
        `-server.http-listen-port=${ctx.bind.ports.http}`,
        // A fixed gRPC port would collide between two stacks on the host's network.
        '-server.grpc-listen-port=0',
      ],
    },
    '/ready',
  ),
  containerOnly(
    'promtail',
    'Promtail shipping logs to Loki',
    [{name: 'http', port: 9080}],
    {
      image: 'docker.io/grafana/promtail:latest',
      reachesServices: true,
      binds: (ctx) => promtailFiles(ctx.home, observabilityAddresses(ctx)).mounts,
      env: (ctx) => promtailFiles(ctx.home, observabilityAddresses(ctx)).env,
      cmd: (ctx) => [
        ...(promtailFiles(ctx.home, observabilityAddresses(ctx)).command ?? []),
        `-server.http-listen-address=${ctx.bind.host}`,
        `-server.http-listen-port=${ctx.bind.ports.http}`,
      ],
    },
    '/ready',
    ['loki'],
  ),
  service('pm', 'project management service (pm-service)', 3001, {
    env: objectStoreEnv,
    reset: {
      running: {
        route: adminResetRoute,
        detail: 'projects, timesheets, invoices and events back to the seed data',
      },
      data: 'its state and outbox; pm starts from the seed data',
    },
    // pm's per-client limits (README "The event backbone"); poc stress sse at scale raises the first.
    // CORS_ORIGIN: the browser origins that may call pm straight (the seed's UI on another port);
    // NODE_ENV=production turns GraphiQL off.
    passEnv: [
      'SSE_MAX_CLIENTS_PER_IP',
      'TELEMETRY_RATE_PER_SEC',
      'TELEMETRY_RATE_BURST',
      'TELEMETRY_SEED_DISABLE',
      'CORS_ORIGIN',
      'NODE_ENV',
      // Attachments (with minio in the stack): URL lifetime and the upload's retries.
      'MINIO_PRESIGN_SECONDS',
      'MINIO_MAX_RETRIES',
      'MINIO_RETRY_BACKOFF_MS',
    ],
  }),
  service('fi', 'finance read model (fi-service)', 3002, {
    reset: {
      running: {route: adminResetRoute, detail: 'read model and journal emptied'},
      data: 'its journal and outbox',
    },
    env: (ctx) => ({PM_URL: `http://${ctx.reach('pm', 'http')}`}),
    passEnv: ['FI_PREFETCH'],
  }),
  service('sales', 'sales orders', 3003, {reset: statelessReset}),
  service('credit', 'credit decisions', 3004, {
    passEnv: ['CREDIT_LIMIT'],
    reset: {
      running: {route: adminResetRoute, detail: "orders' credit states emptied"},
      data: "its orders' credit states and outbox",
    },
  }),
  service('contract', 'contracts and renewals', 3006, {
    reset: {
      running: {route: adminResetRoute, detail: 'contracts back to the seed data'},
      data: 'its state and outbox; contract starts from the seed data',
    },
  }),
  service('invoice-worker', 'shard consumer creating invoices', 3007, {
    passEnv: ['FAIL_RATE', 'INVOICE_HOURLY_RATE'],
    reset: statelessReset,
  }),
  service('gateway', 'fast-path order gateway', 8081, {
    reset: {
      running: {route: adminResetRoute, detail: 'WAL and audit chain emptied'},
      data: 'its WAL and audit chain',
      optIn: 'gateway',
      // So that a reset never hands out an order id again (the gateway keeps it too).
      keep: [gatewayFiles.orderIds],
    },
    // Files, not values: the secrets stay out of the process environment and of state.json.
    env: (ctx) => {
      const dir = secretsDir(ctx.home)
      return {
        JWT_HS256_SECRET_FILE: path.join(dir, gatewaySecretFiles.jwtSecret),
        AUDIT_HMAC_KEY_FILE: path.join(dir, gatewaySecretFiles.auditHmacKey),
      }
    },
    prepare: async (ctx) => {
      await ensureGatewaySecrets(ctx.home)
    },
    passEnv: gatewayTuning,
  }),
  // The browser reaches pm through it (one origin, no CORS); it keeps nothing, so poc reset leaves it alone.
  service('ui', 'web UI, proxies /api and /graphql to pm', 4000, {
    dependsOn: ['pm'],
    usesInfrastructure: false,
    env: (ctx) => ({PM_URL: `http://${ctx.reach('pm', 'http')}`}),
    passEnv: ['UI_PROXY_TIMEOUT_MS'],
  }),
]

export function isComponentName(name: string): name is ComponentName {
  return (componentNames as readonly string[]).includes(name)
}

export function getComponent(name: ComponentName): ComponentSpec {
  const spec = catalog.find((c) => c.name === name)
  if (!spec) throw new Error(`component ${name} is not in the catalog`)
  return spec
}

export function resolvePorts(spec: ComponentSpec, portOffset: number): Record<string, number> {
  return Object.fromEntries(spec.ports.map((p) => [p.name, p.port + portOffset]))
}

/** The highest offset that keeps every port of the catalog at or below 65535. */
export const maxPortOffset = 65_535 - Math.max(...catalog.flatMap((c) => c.ports.map((p) => p.port)))

/**
 * The components a call works on: `only` (with what they depend on) or the default set plus
 * the `with` groups, in catalog order.
 */
export function selectComponents(options: {only?: ComponentName[]; with?: Group[]}): ComponentName[] {
  const wanted = new Set<ComponentName>()
  const add = (name: ComponentName) => {
    if (wanted.has(name)) return
    wanted.add(name)
    for (const dep of getComponent(name).dependsOn) add(dep)
  }
  if (options.only && options.only.length > 0) {
    for (const name of options.only) add(name)
  } else {
    const enabled = new Set<Group>(['core', ...(options.with ?? [])])
    for (const spec of catalog) if (enabled.has(spec.group)) add(spec.name)
  }
  return catalog.filter((c) => wanted.has(c.name)).map((c) => c.name)
}

/**
 * Start order as waves: every component of a wave depends only on components of earlier
 * waves, so a wave starts in parallel. Dependencies outside `names` are taken as satisfied.
 */
export function startWaves(names: ComponentName[]): ComponentName[][] {
  const pending = new Set(names)
  const waves: ComponentName[][] = []
  while (pending.size > 0) {
    const wave = [...pending].filter((name) => getComponent(name).dependsOn.every((dep) => !pending.has(dep)))
    if (wave.length === 0) throw new Error(`dependency cycle among ${[...pending].join(', ')}`)
    for (const name of wave) pending.delete(name)
    waves.push(wave)
  }
  return waves
}
