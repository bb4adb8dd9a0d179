/**
 * The bench result (fixtures/schemas/bench.v1.schema.json): what `poc bench` writes, `poc gate`
 * judges and the HTML report draws. Latencies are in microseconds; snake_case because the file
 * is a contract shared with other tools. One document also follows both of the seed's bench
 * schemas (fixtures/schemas/seed/): `version` and `environment.type/config`, `profile.events_total`,
 * `metrics.fast_path.count`, `metrics.persistence_queue.{write_latency_us,lag}` and `slo_compliance`
 * for contracts/bench.v1.schema.json; `schema`, `run_id`, `commit`, `case`, `env` and
 * `metrics.latency_us` for contracts/bench/v1/schema.json.
 */

/** The seed's contracts/bench.v1.schema.json wants "v1". */
export const benchVersion = 'v1'
/** What poc wrote as `version` before it followed the seed; such results are still read. */
export const legacyBenchVersion = 'bench.v1'
/** The seed's contracts/bench/v1/schema.json wants `schema: "bench.v1"`. */
export const benchSchemaName = 'bench.v1'

/** The seed's traffic profile names; any other profile is written as custom, with a label. */
export const seedProfileNames = ['burst', 'skew', 'steady', 'custom'] as const

export interface Percentiles {
  p50: number
  p99: number
  p999: number
  count?: number
}

export interface ClientPercentiles {
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

export interface BenchPhase {
  name: string
  duration_sec: number
  rate_start: number
  rate_end: number
}

/**
 * A profile's own SLO (the seed's `slo_targets` names). With the strict gate profile they replace
 * the thresholds they name.
 */
export interface SloTargets {
  fast_path_p99_us?: number
  fast_path_p999_us?: number
  tail_ratio_max?: number
  drop_count?: number
  error_rate_percent?: number
  throughput_min_events_per_sec?: number
}

/** The seed's severities: a failed critical check fails the gate, warning warns, info is a note. */
export const severities = ['critical', 'warning', 'info'] as const
export type Severity = (typeof severities)[number]

export interface SloCheck {
  name: string
  metric: string
  operator: '<=' | '>=' | '=='
  threshold: number
  /**
   * The measured value. For a metric missing from the result the check is of its presence
   * (operator ==, threshold 1, actual 0, missing true), so the number is still true.
   */
  actual: number
  passed: boolean
  severity: Severity
  message: string
  /** The metric is not in the result: the check failed on purpose. */
  missing?: boolean
}

/** A check as older poc results hold it: `error` for critical, `null` for a missing metric. */
export interface StoredSloCheck extends Omit<SloCheck, 'actual' | 'severity'> {
  actual: number | null
  severity: Severity | 'error'
}

export interface BaselineComparison {
  file: string
  /** Which kind of file the baseline is (see BaselineKind in gate.ts). */
  kind: string
  /** The baseline's runner label, environment or perf-gate date. */
  label: string
  /** The result's metric compared. */
  metric: string
  baseline_p99_us: number
  /** The seed's name for the result's p99. */
  current_p99_us: number
  actual_p99_us: number
  regression_percent: number
  max_regression_percent: number
  passed: boolean
  /** Set when the comparison was not judged (the seed's gate skips it), why. */
  not_judged?: string
  /** Older poc results: the baseline's runner label. */
  runner_label?: string
}

export type GateProfile = 'strict' | 'light'

export interface SloCompliance {
  status: 'PASS' | 'WARN' | 'FAIL'
  /** The threshold profile; absent when the rules had none (a seed contracts/bench/v1 result). */
  profile?: GateProfile
  /** Whose result this was and so whose rules judged it (see BenchShape in gate.ts). */
  shape?: string
  checked_at?: string
  checks: SloCheck[]
  /** Absent without a baseline (the seed's schema wants an object when it is there). */
  baseline_comparison?: BaselineComparison
}

/** Late or unsent requests above this share of those due make a run an invalid measurement. */
export const maxScheduleMissPercent = 1

/** Whether the run measured what it planned (see measurementOf in bench.ts). */
export interface Measurement {
  valid: boolean
  /** Stopped (Ctrl+C) before the measured window ended: the figures cover elapsed_sec only. */
  interrupted: boolean
  planned_sec: number
  elapsed_sec: number
  /** Requests the schedule had due in elapsed_sec. */
  due: number
  sent: number
  late_sends: number
  unsent: number
  /**
   * Sent but unanswered when the run stopped waiting: after an interruption neither answers nor
   * errors; after a complete run also errors (cause no_answer in http.error_causes).
   */
  abandoned: number
  /** (late_sends + unsent) / due, in percent. */
  schedule_miss_percent: number
  invalid_reasons: string[]
}

export interface BenchResult {
  /** "v1"; "bench.v1" in results written before poc followed the seed's schema. */
  version: typeof benchVersion | typeof legacyBenchVersion
  schema?: typeof benchSchemaName
  /** The seed's contracts/bench/v1 identity of the run: absent in older results. */
  run_id?: string
  commit?: string
  /** gateway_<profile>, or blackbox_<profile> for --url (the seed's gate treats blackbox_ as smoke). */
  case?: string
  /** <runner label>|Node<major>|<platform>, which the seed's gate matches with a baseline's. */
  env?: string
  timestamp: string
  environment: {
    /** local, or ci under a CI system ($CI or $GITHUB_ACTIONS). */
    type?: 'local' | 'ci'
    config?: Record<string, unknown>
    git_commit?: string
    git_branch?: string
    runner_label: string
    hostname: string
    os: string
    node: string
    cpus: number
    cpu_model?: string
    memory_gib?: number
  }
  profile: {
    name: string
    /** The profile's own name when `name` is custom (a constant --rate run, a profile file). */
    label?: string
    /** The profile file, when --profile named one. */
    source?: string
    duration_sec: number
    /** The requests the measured schedule planned. */
    events_total?: number
    warmup_sec: number
    warmup_events?: number
    connections: number
    target: string
    phases: BenchPhase[]
    /** The symbols (the seed's list); older results: the weights. */
    keys?: string[] | Record<string, number>
    key_weights?: Record<string, number>
    slo_targets?: SloTargets
  }
  /** Absent in results written before it existed. */
  measurement?: Measurement
  metrics: {
    /** From the gateway's own histograms over the measured window; absent for other targets. */
    fast_path?: {count?: number; process_latency_us: Percentiles; drop_count: number}
    persistence_queue?: {
      /** The seed's name for the WAL enqueue latency. */
      write_latency_us?: Percentiles
      wal_enqueue_latency_us?: Percentiles
      durable_ack_latency_us?: Percentiles
      fdatasync_latency_us?: Percentiles
      error_count?: number
      /** WAL records written and not yet durable when the window closed. */
      lag?: number
    }
    /** The seed's contracts/bench/v1 latency: the fast path's, or the client's corrected one. */
    latency_us?: {p50: number; p99: number; p999: number; source: 'fast_path' | 'http_corrected'}
    summary: {
      /** fast-path p99 / p50; absent when there is no fast-path p50 to divide by. */
      tail_ratio?: number
      throughput_events_per_sec: number
      error_rate_percent: number
    }
    http: {
      requests: number
      completed: number
      errors: number
      /** Sent more than 10 ms after their intended time (the generator fell behind). */
      late_sends: number
      /** Never sent: the in-flight cap was reached (the target stopped answering). */
      unsent: number
      achieved_rate: number
      target_rate: number
      status_counts: Record<string, number>
      error_causes?: Record<string, number>
      /** From each request's intended send time (coordinated omission corrected). */
      corrected_latency_us: ClientPercentiles
      /** From the moment each request was actually sent. */
      raw_latency_us: ClientPercentiles
      percentile_curve: Array<{percentile: number; corrected_us: number; raw_us: number}>
    }
  }
  slo_compliance?: SloCompliance | StoredCompliance
}

/** slo_compliance as a file may hold it: written by an older poc, or by the seed's gate. */
export interface StoredCompliance extends Omit<SloCompliance, 'checks' | 'baseline_comparison'> {
  checks: StoredSloCheck[]
  baseline_comparison?: Partial<BaselineComparison> | null
}

/** The weights of a result's keys, whichever way the result wrote them. */
export function keyWeights(profile: BenchResult['profile']): Record<string, number> | undefined {
  if (profile.key_weights) return profile.key_weights
  if (profile.keys && !Array.isArray(profile.keys)) return profile.keys
  if (profile.keys) return Object.fromEntries(profile.keys.map((k) => [k, 1]))
  return undefined
}
