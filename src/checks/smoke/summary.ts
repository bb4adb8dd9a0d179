import {telemetryHealthSchema, type TelemetryHealth} from '../../contract/telemetry.js'
import {errorMessage} from '../../stack/errors.js'
import type {SmokeReport} from './types.js'

export interface Notification {
  kind: 'failure' | 'recovery'
  run: number
  at: string
  delivered: boolean
  error?: string
}

export interface RunRecord {
  run: number
  runId: string
  startedAt: string
  durationMs: number
  status: 'passed' | 'failed'
  counts: SmokeReport['counts']
  failureReason?: string
  artifacts?: string
}

/** How many seeded telemetry events the seed's live smoke wants to see (its TELEMETRY_MIN_SEEDED). */
export const minSeededTelemetry = 5

/**
 * `last_summary.json`, rewritten after every run; snake_case, as shell scripts and dashboards
 * read it. Its first fields are the seed's (itdojp/ITDO_ERP3 scripts/poc_live_smoke.sh, checked
 * by its scripts/validate_smoke_summary.py), the rest are ours.
 */
export interface LastSummary {
  status: 'success' | 'failure'
  /** The latest run's first failure, "" when it passed. */
  failure_reason: string
  runs: number
  /** poc never retries a failed run, so every run is its first attempt. */
  attempt: number
  /** The seed's podman host fallback, which poc does not have. */
  fallback_used: boolean
  /** The seed's check of pm's sample telemetry: at least `min_seeded` events with detail.seeded. */
  telemetry: {
    status: 'verified' | 'failed' | 'failed-endpoint'
    seeded_count: number
    attempts: number
    min_seeded: number
  }
  /** pm's GET /health/telemetry at the end of the run, in snake_case ("" for a time it has none). */
  telemetry_health: {
    status: string
    message: string
    events: {total: number; seeded: number; last_event_at: string; last_seeded_at: string}
    fallback_active: boolean
  }
  passed_runs: number
  failed_runs: number
  consecutive_failures: number
  started_at: string
  updated_at: string
  next_run_at: string | null
  last_run: {
    run_id: string
    started_at: string
    duration_ms: number
    status: 'passed' | 'failed'
    counts: SmokeReport['counts']
    failure_reason: string | null
    artifacts: string | null
  }
  notifications: Notification[]
}

/** What pm said at GET /health/telemetry, or why it could not be asked. */
export type TelemetryObservation = {ok: true; health: TelemetryHealth} | {ok: false; error: string}

/** Asks pm for its telemetry health; never throws (a failure is what the summary reports). */
export async function observeTelemetry(pmUrl: string, signal?: AbortSignal): Promise<TelemetryObservation> {
  const url = `${pmUrl}/health/telemetry`
  try {
    const timeout = AbortSignal.timeout(5000)
    const response = await fetch(url, {signal: signal ? AbortSignal.any([signal, timeout]) : timeout})
    const text = await response.text()
    if (!response.ok)
      return {ok: false, error: `GET ${url} answered ${response.status}: ${text.slice(0, 200)}`}
    const parsed = telemetryHealthSchema.safeParse(JSON.parse(text))
    if (!parsed.success) {
      return {ok: false, error: `GET ${url} answered an unexpected shape: ${parsed.error.issues[0]?.message}`}
    }
    return {ok: true, health: parsed.data}
  } catch (error) {
    return {ok: false, error: `GET ${url} failed: ${errorMessage(error)}`}
  }
}

export interface SummaryInput {
  records: RunRecord[]
  startedAt: string
  nextRunAt?: Date
  notifications: Notification[]
  telemetry: TelemetryObservation
  now?: Date
}

export function buildLastSummary(input: SummaryInput): LastSummary {
  const {records, telemetry} = input
  const latest = records.at(-1)
  if (!latest) throw new Error('a summary needs at least one run')
  let consecutive = 0
  for (const r of [...records].reverse()) {
    if (r.status !== 'failed') break
    consecutive++
  }
  return {
    status: latest.status === 'passed' ? 'success' : 'failure',
    failure_reason: latest.failureReason ?? '',
    runs: records.length,
    attempt: 1,
    fallback_used: false,
    telemetry: seedTelemetryCheck(telemetry),
    telemetry_health: telemetryHealth(telemetry),
    passed_runs: records.filter((r) => r.status === 'passed').length,
    failed_runs: records.filter((r) => r.status === 'failed').length,
    consecutive_failures: consecutive,
    started_at: input.startedAt,
    updated_at: (input.now ?? new Date()).toISOString(),
    next_run_at: input.nextRunAt?.toISOString() ?? null,
    last_run: {
      run_id: latest.runId,
      started_at: latest.startedAt,
      duration_ms: latest.durationMs,
      status: latest.status,
      counts: latest.counts,
      failure_reason: latest.failureReason ?? null,
      artifacts: latest.artifacts ?? null,
    },
    notifications: input.notifications,
  }
}

function seedTelemetryCheck(observation: TelemetryObservation): LastSummary['telemetry'] {
  const common = {attempts: 1, min_seeded: minSeededTelemetry}
  if (!observation.ok) return {status: 'failed-endpoint', seeded_count: 0, ...common}
  const seeded = observation.health.events.seeded
  return {status: seeded >= minSeededTelemetry ? 'verified' : 'failed', seeded_count: seeded, ...common}
}

function telemetryHealth(observation: TelemetryObservation): LastSummary['telemetry_health'] {
  if (!observation.ok) {
    return {
      status: 'error',
      message: observation.error,
      events: {total: 0, seeded: 0, last_event_at: '', last_seeded_at: ''},
      fallback_active: false,
    }
  }
  const {status, message, events, fallbackActive} = observation.health
  return {
    status,
    message,
    events: {
      total: events.total,
      seeded: events.seeded,
      last_event_at: events.lastEventAt ?? '',
      last_seeded_at: events.lastSeededAt ?? '',
    },
    fallback_active: fallbackActive,
  }
}
