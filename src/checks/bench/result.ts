/**
 * The bench result (fixtures/schemas/bench.v1.schema.json): what `poc bench` writes, `poc gate`
 * judges and the HTML report draws. Latencies are in microseconds; snake_case because the file
 * is a contract shared with other tools (the seed's gate, dashboards).
 */

export const benchVersion = 'bench.v1'

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

export interface SloCheck {
  name: string
  metric: string
  operator: '<=' | '>=' | '=='
  threshold: number
  actual: number | null
  passed: boolean
  severity: 'error' | 'warning'
  message: string
}

export interface BaselineComparison {
  file: string
  runner_label: string
  baseline_p99_us: number
  actual_p99_us: number
  regression_percent: number
  max_regression_percent: number
  passed: boolean
}

export interface SloCompliance {
  status: 'PASS' | 'WARN' | 'FAIL'
  profile: 'strict' | 'light'
  checked_at?: string
  checks: SloCheck[]
  baseline_comparison?: BaselineComparison | null
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
  version: typeof benchVersion
  timestamp: string
  environment: {
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
    duration_sec: number
    warmup_sec: number
    connections: number
    target: string
    phases: BenchPhase[]
    keys?: Record<string, number>
  }
  /** Absent in results written before it existed. */
  measurement?: Measurement
  metrics: {
    /** From the gateway's own histograms over the measured window; absent for other targets. */
    fast_path?: {process_latency_us: Percentiles; drop_count: number}
    persistence_queue?: {
      wal_enqueue_latency_us?: Percentiles
      durable_ack_latency_us?: Percentiles
      fdatasync_latency_us?: Percentiles
      error_count?: number
    }
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
  slo_compliance?: SloCompliance
}
