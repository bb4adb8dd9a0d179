import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {packageRoot} from '../lib/package-root.js'
import type {PocHome} from './home.js'
import {scrapeTargets, targetsNotUp, writePrometheusFiles} from './prometheus-config.js'
import {type ReadinessCheck, allOf, amqpConnect, http, redisPing} from './readiness.js'
import {ensureGatewaySecrets, gatewaySecretFiles, secretsDir} from './secrets.js'

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
}

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
}

export interface NativeRecipe {
  binaries: BinaryRequirement[]
  /** Write config files and create directories before the processes start. */
  prepare?(ctx: ComponentContext): Promise<void>
  processes(ctx: ComponentContext, binaries: Record<string, string>): NativeProcessSpec[]
}

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
  /** The official image the container runtimes use. */
  image?: string
  /** Environment of our own services, the same under every runtime. */
  env?(ctx: ComponentContext): Record<string, string>
  /** Variables passed through from the caller of `poc up` when set (FAIL_RATE=1 poc up). */
  passEnv?: string[]
}

const defaultStartTimeoutMs = 60_000
const defaultStopGraceMs = 10_000

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
  // A clean RabbitMQ shutdown takes about 6 s here; give it room before SIGKILL.
  stopGraceMs: 30_000,
  readiness: (ctx) =>
    allOf(
      amqpConnect(amqpUrl(ctx), `amqp://${ctx.host}:${ctx.ports.amqp}`),
      http(`http://${ctx.host}:${ctx.ports.management}/api/healthchecks/node`, {
        headers: {authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`},
        body: (json) =>
          (json as {status?: string}).status === 'ok' ? undefined : `node health: ${JSON.stringify(json)}`,
      }),
    ),
  urls: (ctx) => ({
    amqp: amqpUrl(ctx),
    management: `http://${ctx.host}:${ctx.ports.management}`,
  }),
  image: 'rabbitmq:3.13-management',
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
      await writeFile(
        path.join(dir, 'rabbitmq.conf'),
        [
          `listeners.tcp.default = ${ctx.host}:${ctx.ports.amqp}`,
          `management.tcp.ip = ${ctx.host}`,
          `management.tcp.port = ${ctx.ports.management}`,
          `prometheus.tcp.ip = ${ctx.host}`,
          `prometheus.tcp.port = ${ctx.ports.prometheus}`,
          // Logs go to stdout, which is the component's log file, so `poc logs rabbitmq` shows them.
          'log.console = true',
          'log.console.level = info',
          'log.console.use_colors = off',
          'log.file = false',
          '',
        ].join('\n'),
      )
      await writeFile(path.join(dir, 'enabled_plugins'), `[${rabbitmqPlugins.join(',')}].\n`)
      // Our own (empty) env file, so /etc/rabbitmq/rabbitmq-env.conf of a system install is not read.
      await writeFile(path.join(dir, 'rabbitmq-env.conf'), '')
    },
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
  startTimeoutMs: defaultStartTimeoutMs,
  stopGraceMs: defaultStopGraceMs,
  readiness: (ctx) => redisPing(ctx.host, ctx.ports.redis as number),
  urls: (ctx) => ({redis: `redis://${ctx.host}:${ctx.ports.redis}`}),
  image: 'redis:7-alpine',
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
  dependsOn: ['rabbitmq', 'pm', 'fi', 'sales', 'credit', 'contract', 'invoice-worker', 'gateway'],
  startTimeoutMs: defaultStartTimeoutMs,
  stopGraceMs: defaultStopGraceMs,
  readiness: (ctx) =>
    allOf(
      http(`http://${ctx.host}:${ctx.ports.http}/-/ready`),
      http(`http://${ctx.host}:${ctx.ports.http}/api/v1/targets?state=active`, {body: targetsNotUp}),
    ),
  urls: (ctx) => ({http: `http://${ctx.host}:${ctx.ports.http}`}),
  image: 'prom/prometheus',
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
      const targets = scrapeTargets(catalog, (name, port) => `${ctx.host}:${ctx.portsOf(name)[port]}`)
      await writePrometheusFiles(ctx.dataDir, targets)
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
  image: string,
  healthPath: string,
  dependsOn: ComponentName[] = [],
): ComponentSpec {
  return {
    name,
    summary,
    kind: 'infrastructure',
    group: name === 'minio' ? 'minio' : 'observability',
    ports,
    dependsOn,
    startTimeoutMs: defaultStartTimeoutMs,
    stopGraceMs: defaultStopGraceMs,
    readiness: (ctx) => http(`http://${ctx.host}:${Object.values(ctx.ports)[0]}${healthPath}`),
    urls: (ctx) =>
      Object.fromEntries(Object.entries(ctx.ports).map(([n, p]) => [n, `http://${ctx.host}:${p}`])),
    image,
  }
}

/** What every service needs to find the infrastructure and its own files. */
function serviceEnv(ctx: ComponentContext): Record<string, string> {
  return {
    HOST: ctx.host,
    PORT: String(ctx.ports.http),
    AMQP_URL: `amqp://guest:guest@${ctx.host}:${ctx.portsOf('rabbitmq').amqp}`,
    REDIS_URL: `redis://${ctx.host}:${ctx.portsOf('redis').redis}`,
    DATA_DIR: ctx.dataDir,
    POC_HOME: ctx.home.root,
  }
}

/** Services run as `node bin/run.js service run <name>` under every runtime (ARCHITECTURE.md). */
const nodeService: NativeRecipe = {
  binaries: [],
  prepare: async (ctx) => {
    await mkdir(ctx.dataDir, {recursive: true})
  },
  processes: (ctx) => {
    const spec = getComponent(ctx.name)
    const passed = Object.fromEntries(
      (spec.passEnv ?? []).flatMap((name) =>
        process.env[name] === undefined ? [] : [[name, process.env[name] as string]],
      ),
    )
    return [
      {
        role: 'server',
        command: process.execPath,
        args: [path.join(packageRoot, 'bin', 'run.js'), 'service', 'run', ctx.name],
        env: {...passed, ...(spec.env?.(ctx) ?? {})},
        cwd: ctx.dataDir,
      },
    ]
  },
}

const sharedServiceEnv = ['NUM_SHARDS', 'IDEMP_TTL_MS', 'LOG_LEVEL']

/** The gateway's tuning variables (SPEC §4.5), taken from the caller: `BACKPRESSURE_INFLIGHT_MAX=5 poc up`. */
const gatewayTuning = [
  // Set by the caller, they win over the files in $POC_HOME/secrets (and poc token signs with it too).
  'JWT_HS256_SECRET',
  'AUDIT_HMAC_KEY',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'JWT_CLOCK_SKEW_SEC',
  'AUDIT_FDATASYNC_MAX_WAIT_US',
  'AUDIT_FDATASYNC_MAX_BATCH',
  'OUTBOX_BACKOFF_BASE_MS',
  'OUTBOX_BACKOFF_MAX_MS',
  'SYMBOLS',
  'MAX_ORDER_QTY',
  'MAX_NOTIONAL',
  'QUEUE_CAPACITY',
  'FASTPATH_DRAIN_ENABLE',
  'RATE_LIMIT_PER_SEC',
  'RATE_LIMIT_BURST',
  'BACKPRESSURE_INFLIGHT_MAX',
  'BACKPRESSURE_WAL_BYTES_MAX',
  'BACKPRESSURE_WAL_AGE_MS_MAX',
  'BACKPRESSURE_SOFT_WAL_AGE_MS_MAX',
  'BACKPRESSURE_DISK_FREE_PCT_MIN',
  'SSE_REPLAY_BUFFER',
  'SSE_MAX_CLIENTS_PER_IP',
  'SSE_MAX_PENDING_BYTES',
  'SSE_HEARTBEAT_MS',
]

interface ServiceOptions {
  /** Variables of the caller's environment this service also reads (e.g. FAIL_RATE). */
  passEnv?: string[]
  /** Settings that depend on the stack, beyond serviceEnv (e.g. another service's URL). */
  env?: (ctx: ComponentContext) => Record<string, string>
  /** Runs before the process starts, after its data dir exists. */
  prepare?: (ctx: ComponentContext) => Promise<void>
}

function service(
  name: ComponentName,
  summary: string,
  port: number,
  options: ServiceOptions = {},
): ComponentSpec {
  return {
    name,
    summary,
    kind: 'service',
    group: 'core',
    ports: [{name: 'http', port}],
    dependsOn: name === 'gateway' ? ['rabbitmq'] : ['rabbitmq', 'redis'],
    startTimeoutMs: defaultStartTimeoutMs,
    stopGraceMs: defaultStopGraceMs,
    readiness: (ctx) => http(`http://${ctx.host}:${ctx.ports.http}/health`),
    urls: (ctx) => ({http: `http://${ctx.host}:${ctx.ports.http}`}),
    env: (ctx) => ({...serviceEnv(ctx), ...options.env?.(ctx)}),
    passEnv: [...sharedServiceEnv, ...(options.passEnv ?? [])],
    native: options.prepare
      ? {
          ...nodeService,
          prepare: async (ctx) => {
            await nodeService.prepare?.(ctx)
            await options.prepare?.(ctx)
          },
        }
      : nodeService,
  }
}

export const catalog: readonly ComponentSpec[] = [
  rabbitmq,
  redis,
  containerOnly(
    'minio',
    'MinIO object storage',
    [
      {name: 'api', port: 9000},
      {name: 'console', port: 9001},
    ],
    'minio/minio',
    '/minio/health/ready',
  ),
  prometheus,
  containerOnly(
    'grafana',
    'Grafana dashboards',
    [{name: 'http', port: 3000}],
    'grafana/grafana',
    '/api/health',
    ['prometheus', 'loki'],
  ),
  containerOnly('loki', 'Loki log store', [{name: 'http', port: 3100}], 'grafana/loki', '/ready'),
  containerOnly('promtail', 'Promtail shipping logs to Loki', [], 'grafana/promtail', '/ready', ['loki']),
  service('pm', 'project management service (pm-service)', 3001),
  service('fi', 'finance read model (fi-service)', 3002, {
    env: (ctx) => ({PM_URL: `http://${ctx.host}:${ctx.portsOf('pm').http}`}),
    passEnv: ['FI_PREFETCH'],
  }),
  service('sales', 'sales orders', 3003),
  service('credit', 'credit decisions', 3004, {passEnv: ['CREDIT_LIMIT']}),
  service('contract', 'contracts and renewals', 3006),
  service('invoice-worker', 'shard consumer creating invoices', 3007, {
    passEnv: ['FAIL_RATE', 'INVOICE_HOURLY_RATE'],
  }),
  service('gateway', 'fast-path order gateway', 8081, {
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
