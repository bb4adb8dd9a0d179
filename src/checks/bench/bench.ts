import {execFile} from 'node:child_process'
import os from 'node:os'
import {promisify} from 'node:util'
import {packageRoot} from '../../lib/package-root.js'
import {LatencyHistogram} from '../../contract/latency.js'
import {ExitCode, PocError, errorMessage, usageError} from '../../stack/errors.js'
import type {PocHome} from '../../stack/home.js'
import {issueDevToken} from '../../stack/secrets.js'
import {loadTarget} from '../smoke/target.js'
import {gate} from '../gate.js'
import {type LoadHooks, type LoadStats, type LoadTarget, Schedule, runLoad, summarize} from './load.js'
import {type BenchProfile, loadProfile} from './profiles.js'
import {
  type BenchResult,
  type Measurement,
  type Percentiles,
  benchSchemaName,
  benchVersion,
  maxScheduleMissPercent,
  seedProfileNames,
} from '../../contract/bench.js'

export {type BenchProfile, loadProfile, profileNames, profilesDir} from './profiles.js'

export interface BenchRequest {
  /** A named profile; without one (or with --rate alone) a constant rate. */
  profile?: string
  /** Constant rate; with a profile, its peak is scaled to this. */
  rate?: number
  /** Stretches or shrinks the profile (or sets the constant run's length). */
  durationSec?: number
  warmupSec?: number
  connections: number
  /** Any HTTP endpoint instead of the gateway's POST /orders. */
  url?: string
  method?: string
  body?: string
  headers: Record<string, string>
  runnerLabel: string
}

export interface BenchHooks extends Omit<LoadHooks, 'onMeasureStart'> {
  home: PocHome
}

/** The plan a request describes: a profile (scaled) or a constant rate. */
export async function planOf(request: BenchRequest): Promise<BenchProfile> {
  let profile: BenchProfile
  if (request.profile !== undefined || request.rate === undefined) {
    profile = await loadProfile(request.profile ?? 'steady')
    if (request.rate !== undefined) {
      const peak = Math.max(...profile.phases.flatMap((p) => [p.rate_start, p.rate_end]))
      const factor = request.rate / peak
      profile.phases = profile.phases.map((p) => ({
        ...p,
        rate_start: p.rate_start * factor,
        rate_end: p.rate_end * factor,
      }))
    }
  } else {
    const duration = request.durationSec ?? 30
    profile = {
      name: 'constant',
      warmupSec: 2,
      phases: [{name: 'constant', duration_sec: duration, rate_start: request.rate, rate_end: request.rate}],
    }
  }
  if (request.durationSec !== undefined) {
    const total = profile.phases.reduce((sum, p) => sum + p.duration_sec, 0)
    const factor = request.durationSec / total
    profile.phases = profile.phases.map((p) => ({...p, duration_sec: p.duration_sec * factor}))
  }
  if (request.warmupSec !== undefined) profile.warmupSec = request.warmupSec
  return profile
}

interface GatewaySnapshot {
  histograms: Record<string, string>
  counters: Map<string, number>
}

/** Bench accounts: the gateway's per-account token bucket must not be what limits the run. */
const accounts = 8
const orderSymbols = ['BTC', 'ETH', 'XRP', 'SOL', 'ADA']

/**
 * Runs the load and assembles the bench.v1 result. Against the gateway (no --url) it sends valid
 * orders with unique Idempotency-Keys and reads the gateway's own histograms before and after the
 * measured window; against any other URL it reports the client side only.
 */
export async function runBench(request: BenchRequest, hooks: BenchHooks): Promise<BenchResult> {
  const profile = await planOf(request)
  const runId = Date.now().toString(36)
  let target: LoadTarget
  let gateway: string | undefined
  if (request.url === undefined) {
    const stack = await loadTarget(hooks.home)
    if (!stack.running.has('gateway')) {
      throw new PocError('the gateway is not running, and without --url poc bench loads it', {
        exitCode: ExitCode.unavailable,
        code: 'gateway_not_running',
        suggestions: ['Start it with: poc up', 'Or aim the load elsewhere with --url.'],
      })
    }
    gateway = stack.url('gateway')
    const tokens = await Promise.all(
      Array.from({length: accounts}, async (_, i) => {
        const {token} = await issueDevToken(hooks.home, {
          accountId: `bench-${runId}-${i}`,
          ttlSeconds: 86_400,
        })
        return token
      }),
    )
    const symbols = weightedPicker(profile.keys ?? {BTC: 1})
    target = {
      url: `${gateway}/orders`,
      method: 'POST',
      headers: (n) => ({
        'content-type': 'application/json',
        authorization: `Bearer ${tokens[n % accounts]}`,
        'idempotency-key': `bench-${runId}-${n}`,
        ...request.headers,
      }),
      // Both sides around one price, so the books match and rest as real flow does.
      body: (n) =>
        `{"symbol":"${symbols(n)}","side":"${n % 2 ? 'BUY' : 'SELL'}","type":"LIMIT","qty":1,"price":${95 + (n % 11)}}`,
    }
  } else {
    let url: URL
    try {
      url = new URL(request.url)
    } catch {
      throw usageError(`--url is not a URL: ${request.url}`)
    }
    if (url.protocol !== 'http:') throw usageError(`--url must be http://, got ${url.protocol}`)
    const method = (request.method ?? (request.body === undefined ? 'GET' : 'POST')).toUpperCase()
    target = {url: url.href, method, headers: () => request.headers, body: () => request.body}
  }

  let before: GatewaySnapshot | undefined
  const stats = await runLoad(
    {phases: profile.phases, warmupSec: profile.warmupSec, connections: request.connections},
    target,
    {
      ...hooks,
      onMeasureStart: async () => {
        if (gateway) before = await snapshot(gateway)
      },
    },
  )
  const after = gateway && before ? await snapshot(gateway) : undefined
  const server = before && after ? serverFigures(before, after) : undefined

  return judgedResult({
    profile,
    connections: request.connections,
    runnerLabel: request.runnerLabel,
    target: `${target.method} ${target.url}`,
    stats,
    server,
    runId: process.env.GITHUB_RUN_ID || `local-${runId}`,
    git: await gitInfo(),
  })
}

/**
 * The result with its strict verdict: the seed's contracts/bench.v1.schema.json wants one in every
 * result, and this one is true (with the profile's own slo_targets) until poc gate judges the
 * file again with the thresholds asked for.
 */
export function judgedResult(inputs: ResultInputs): BenchResult {
  const result = assembleResult(inputs)
  const {status, profile, shape, checks} = gate(result, {profile: 'strict'})
  result.slo_compliance = {status, profile, shape, checked_at: result.timestamp, checks}
  return result
}

export type ServerFigures = ReturnType<typeof serverFigures>

export interface ResultInputs {
  profile: BenchProfile
  connections: number
  runnerLabel: string
  /** "METHOD url" */
  target: string
  stats: LoadStats
  /** The gateway's own figures over the measured window; absent for --url. */
  server?: ServerFigures
  runId: string
  git: {commit: string; branch?: string}
  now?: Date
}

/** The bench.v1 document of a finished run: ours, and both of the seed's schemas at once. */
export function assembleResult(inputs: ResultInputs): BenchResult {
  const {profile, stats, server} = inputs
  // The server's error rate is of what was sent and answered or failed: requests the generator
  // never sent, or stopped waiting for after an interruption, say nothing about the server.
  const judged = stats.completed + stats.errors
  const failures = stats.errors + (stats.completed - stats.ok)
  const measurement = measurementOf(stats, plannedSec(profile))
  const curvePoints = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100]
  const corrected = summarize(stats.corrected)
  const seedName = (seedProfileNames as readonly string[]).includes(profile.name) ? profile.name : 'custom'
  const runnerLabel = inputs.runnerLabel
  const firstRate = profile.phases[0]?.rate_start ?? 0
  return {
    version: benchVersion,
    schema: benchSchemaName,
    run_id: inputs.runId,
    commit: inputs.git.commit,
    case: `${server ? 'gateway' : 'blackbox'}_${profile.name}`,
    env: `${runnerLabel}|Node${process.versions.node.split('.')[0]}|${os.platform()}`,
    timestamp: (inputs.now ?? new Date()).toISOString(),
    environment: {
      type: process.env.CI || process.env.GITHUB_ACTIONS ? 'ci' : 'local',
      config: {target: server ? 'gateway' : 'url', server_metrics: server !== undefined},
      git_commit: inputs.git.commit,
      ...(inputs.git.branch ? {git_branch: inputs.git.branch} : {}),
      runner_label: runnerLabel,
      hostname: os.hostname(),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
      cpus: os.cpus().length,
      cpu_model: os.cpus()[0]?.model,
      memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    },
    profile: {
      name: seedName,
      ...(seedName === profile.name ? {} : {label: profile.name}),
      ...(profile.source ? {source: profile.source} : {}),
      duration_sec: round(plannedSec(profile)),
      events_total: new Schedule(profile.phases).totalRequests,
      warmup_sec: profile.warmupSec,
      warmup_events: Math.floor(profile.warmupSec * firstRate),
      connections: inputs.connections,
      target: inputs.target,
      phases: profile.phases.map((p) => ({
        ...p,
        duration_sec: round(p.duration_sec),
        rate_start: round(p.rate_start),
        rate_end: round(p.rate_end),
      })),
      ...(profile.keys ? {keys: Object.keys(profile.keys), key_weights: profile.keys} : {}),
      ...(profile.sloTargets ? {slo_targets: profile.sloTargets} : {}),
    },
    measurement,
    metrics: {
      ...(server
        ? {
            fast_path: {
              count: server.fastPath.count ?? 0,
              process_latency_us: server.fastPath,
              drop_count: server.drops,
            },
            persistence_queue: {
              write_latency_us: server.walEnqueue,
              wal_enqueue_latency_us: server.walEnqueue,
              durable_ack_latency_us: server.durableAck,
              fdatasync_latency_us: server.fdatasync,
              error_count: server.walErrors,
              lag: server.walLag,
            },
          }
        : {}),
      latency_us: server
        ? {
            p50: server.fastPath.p50,
            p99: server.fastPath.p99,
            p999: server.fastPath.p999,
            source: 'fast_path',
          }
        : {p50: corrected.p50, p99: corrected.p99, p999: corrected.p999, source: 'http_corrected'},
      summary: {
        ...(server && server.fastPath.p50 > 0
          ? {tail_ratio: round(Math.max(1, server.fastPath.p99 / server.fastPath.p50))}
          : {}),
        throughput_events_per_sec: round(stats.measuredSec > 0 ? stats.ok / stats.measuredSec : 0),
        error_rate_percent: judged === 0 ? 0 : round((failures / judged) * 100, 4),
      },
      http: {
        requests: stats.requests,
        completed: stats.completed,
        errors: stats.errors,
        late_sends: stats.lateSends,
        unsent: stats.unsent,
        achieved_rate: round(stats.achievedRate),
        target_rate: round(stats.targetRate),
        status_counts: stats.statusCounts,
        ...(Object.keys(stats.errorCauses).length > 0 ? {error_causes: stats.errorCauses} : {}),
        corrected_latency_us: corrected,
        raw_latency_us: summarize(stats.raw),
        percentile_curve: curvePoints.map((percentile) => ({
          percentile,
          corrected_us: stats.corrected.percentile(percentile),
          raw_us: stats.raw.percentile(percentile),
        })),
      },
    },
  }
}

const execFileAsync = promisify(execFile)

/** The commit of the poc being benched (the seed's `commit`): git, else $GITHUB_SHA, else unknown. */
async function gitInfo(): Promise<{commit: string; branch?: string}> {
  const git = async (...args: string[]) => {
    try {
      const {stdout} = await execFileAsync('git', ['-C', packageRoot, ...args], {timeout: 5000})
      return stdout.trim() || undefined
    } catch {
      return undefined
    }
  }
  const [commit, branch] = await Promise.all([
    git('rev-parse', 'HEAD'),
    git('rev-parse', '--abbrev-ref', 'HEAD'),
  ])
  return {
    commit: commit ?? (process.env.GITHUB_SHA || 'unknown'),
    branch: branch ?? (process.env.GITHUB_REF_NAME || undefined),
  }
}

function plannedSec(profile: BenchProfile): number {
  return profile.phases.reduce((sum, p) => sum + p.duration_sec, 0)
}

/**
 * Whether the run measured what it set out to: it ran to the end, and the generator kept to its
 * schedule (a request sent late or not at all was load the server never got). An invalid run's
 * figures are kept for diagnosis, but the gate fails it and --bless refuses it.
 */
export function measurementOf(
  stats: Pick<
    LoadStats,
    'interrupted' | 'elapsedSec' | 'due' | 'requests' | 'unsent' | 'lateSends' | 'abandoned'
  >,
  planned: number,
): Measurement {
  const missed = stats.lateSends + stats.unsent
  const missPercent = stats.due === 0 ? 0 : round((missed / stats.due) * 100, 3)
  const reasons: string[] = []
  if (stats.interrupted) {
    reasons.push(`interrupted after ${round(stats.elapsedSec, 1)} of ${round(planned, 1)} s`)
  }
  if (missPercent > maxScheduleMissPercent) {
    reasons.push(
      `the generator missed its schedule for ${missPercent} % of ${stats.due} requests (${stats.lateSends} late, ${stats.unsent} unsent; at most ${maxScheduleMissPercent} % is allowed)`,
    )
  }
  return {
    valid: reasons.length === 0,
    interrupted: stats.interrupted,
    planned_sec: round(planned),
    elapsed_sec: round(stats.elapsedSec, 3),
    due: stats.due,
    sent: stats.requests,
    late_sends: stats.lateSends,
    unsent: stats.unsent,
    abandoned: stats.abandoned,
    schedule_miss_percent: missPercent,
    invalid_reasons: reasons,
  }
}

function round(value: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** n → a symbol, in the profile's proportions, spread evenly rather than at random (repeatable runs). */
export function weightedPicker(weights: Record<string, number>): (n: number) => string {
  const entries = Object.entries(weights).filter(([, w]) => w > 0)
  if (entries.length === 0) return () => 'BTC'
  const unknown = entries.map(([s]) => s).filter((s) => !orderSymbols.includes(s))
  if (unknown.length > 0)
    throw usageError(`the profile's keys name symbols the gateway does not trade: ${unknown.join(', ')}`)
  const total = entries.reduce((sum, [, w]) => sum + w, 0)
  const slots = 1000
  const table: string[] = []
  for (const [symbol, weight] of entries) {
    for (let i = 0; i < Math.round((weight / total) * slots); i++) table.push(symbol)
  }
  // Interleave so a window of requests has the mix, not one symbol after another.
  const stride = 397
  return (n) => table[(n * stride) % table.length] as string
}

async function snapshot(gateway: string): Promise<GatewaySnapshot> {
  try {
    const [hdr, text] = await Promise.all([
      fetch(`${gateway}/metrics/hdr`).then((r) => r.json() as Promise<{histograms: Record<string, string>}>),
      fetch(`${gateway}/metrics`).then((r) => r.text()),
    ])
    const counters = new Map<string, number>()
    for (const line of text.split('\n')) {
      if (!line.startsWith('gateway_')) continue
      const space = line.lastIndexOf(' ')
      counters.set(
        line
          .slice(0, space)
          .replace(/,?service="gateway"/, '')
          .replace('{}', ''),
        Number(line.slice(space + 1)),
      )
    }
    return {histograms: hdr.histograms, counters}
  } catch (error) {
    throw new PocError(`cannot read the gateway's metrics at ${gateway}: ${errorMessage(error)}`, {
      exitCode: ExitCode.unavailable,
      code: 'gateway_metrics',
    })
  }
}

function serverFigures(before: GatewaySnapshot, after: GatewaySnapshot) {
  const window = (name: string): Percentiles => {
    const h = LatencyHistogram.between(before.histograms[name] ?? '', after.histograms[name] ?? '')
    const p = h.percentiles()
    return {...p, count: h.count}
  }
  const delta = (predicate: (name: string) => boolean) => {
    let sum = 0
    for (const [name, value] of after.counters) {
      if (predicate(name)) sum += value - (before.counters.get(name) ?? 0)
    }
    return sum
  }
  return {
    fastPath: window('fast_path_processing'),
    walEnqueue: window('wal_enqueue'),
    durableAck: window('durable_ack'),
    fdatasync: window('fdatasync'),
    // What the fast path refused for load: a full queue or a backpressure limit.
    drops: delta(
      (n) =>
        n === 'gateway_reject_total{reason="QUEUE_REJECT"}' || /^gateway_backpressure_\w+_total$/.test(n),
    ),
    walErrors: delta((n) => n === 'gateway_reject_total{reason="WAL_UNAVAILABLE"}'),
    // The seed's persistence-queue lag: WAL records written and not yet durable as the window closed.
    walLag: Math.max(0, Math.round(after.counters.get('gateway_durable_inflight') ?? 0)),
  }
}
