import {performance} from 'node:perf_hooks'
import {setTimeout as delay} from 'node:timers/promises'
import {LatencyHistogram} from '../../contract/latency.js'
import type {BenchPhase, ClientPercentiles} from '../../contract/bench.js'
import {Http1Pool, requestText} from './http1.js'

/*
 * An open-model HTTP load generator (SPEC §6.4): requests leave on a schedule fixed in advance
 * by the arrival rate, whether or not earlier ones have been answered, and each one's latency is
 * measured from the time it was *meant* to leave (coordinated omission corrected, as wrk2 does)
 * and, separately, from when it actually left (raw). A server that stalls therefore shows in the
 * corrected figures even though the requests it held back were sent late.
 */

export interface LoadPlan {
  phases: BenchPhase[]
  /** Leading seconds at the first phase's start rate, sent but not measured. */
  warmupSec: number
  connections: number
  /** Requests waiting for an answer beyond which new ones are not sent but counted as unsent. */
  maxInflight?: number
}

export interface LoadTarget {
  url: string
  method: string
  headers: (n: number) => Record<string, string>
  body: (n: number) => string | undefined
}

export interface LoadStats {
  requests: number
  completed: number
  errors: number
  lateSends: number
  unsent: number
  statusCounts: Record<string, number>
  errorCauses: Record<string, number>
  measuredSec: number
  achievedRate: number
  targetRate: number
  corrected: LatencyHistogram
  raw: LatencyHistogram
  /** 2xx answers to measured requests. */
  ok: number
  /** The signal fired before the measured window ended. */
  interrupted: boolean
  /** Seconds the measured window really lasted (shorter than planned when interrupted). */
  elapsedSec: number
  /** Requests the schedule had due in that time. */
  due: number
  /**
   * Sent, but unanswered when the run stopped waiting: after an interruption they are neither
   * answers nor errors; after a complete run they are also counted as errors (no_answer).
   */
  abandoned: number
}

/** After an interruption, how long answers to requests already sent are still waited for. */
export const interruptGraceMs = 5000
/** After the schedule's end, how long the last answers are waited for. */
export const drainGraceMs = 10_000

export interface LoadHooks {
  signal?: AbortSignal
  /** At the end of the warm-up, when the measured window starts (for server-side snapshots). */
  onMeasureStart?(): void | Promise<void>
  /** About once a second while measuring. */
  onProgress?(progress: {elapsedSec: number; totalSec: number; sent: number; inflight: number}): void
}

/** A request sent this much after its intended time means the generator could not keep up. */
export const lateThresholdMs = 10

/** Rate at `t` seconds into the plan (warm-up excluded) and the number of requests due by then. */
export class Schedule {
  private readonly starts: number[] = []
  private readonly counts: number[] = []
  readonly totalSec: number
  readonly totalRequests: number

  constructor(private readonly phases: BenchPhase[]) {
    let t = 0
    let n = 0
    for (const phase of phases) {
      this.starts.push(t)
      this.counts.push(n)
      t += phase.duration_sec
      n += ((phase.rate_start + phase.rate_end) / 2) * phase.duration_sec
    }
    this.totalSec = t
    this.totalRequests = Math.floor(n)
  }

  /** Requests due in [0, t]: the integral of the rate. */
  dueBy(t: number): number {
    if (t <= 0) return 0
    if (t >= this.totalSec) return this.totalRequests
    const i = this.phaseAt(t)
    const phase = this.phases[i] as BenchPhase
    const local = t - (this.starts[i] as number)
    const slope = (phase.rate_end - phase.rate_start) / phase.duration_sec
    return Math.floor((this.counts[i] as number) + phase.rate_start * local + (slope * local * local) / 2)
  }

  /** When request number `k` (0-based) is due: the inverse of dueBy. */
  timeOf(k: number): number {
    const target = k + 1
    let i = this.phases.length - 1
    while (i > 0 && (this.counts[i] as number) >= target) i--
    const phase = this.phases[i] as BenchPhase
    const need = target - (this.counts[i] as number)
    const slope = (phase.rate_end - phase.rate_start) / phase.duration_sec
    const local =
      Math.abs(slope) < 1e-9
        ? need / phase.rate_start
        : (-phase.rate_start + Math.sqrt(phase.rate_start ** 2 + 2 * slope * need)) / slope
    return (this.starts[i] as number) + Math.min(Math.max(local, 0), phase.duration_sec)
  }

  private phaseAt(t: number): number {
    let i = 0
    while (i + 1 < this.starts.length && (this.starts[i + 1] as number) <= t) i++
    return i
  }
}

export function summarize(histogram: LatencyHistogram): ClientPercentiles {
  return {
    p50: histogram.percentile(50),
    p90: histogram.percentile(90),
    p99: histogram.percentile(99),
    p999: histogram.percentile(99.9),
    max: histogram.percentile(100),
  }
}

/** Runs the plan against the target; resolves when every sent request has been answered or failed. */
export async function runLoad(plan: LoadPlan, target: LoadTarget, hooks: LoadHooks = {}): Promise<LoadStats> {
  const url = new URL(target.url)
  if (url.protocol !== 'http:') throw new Error(`the load generator speaks http:// only, not ${url.protocol}`)
  const pool = new Http1Pool(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 80), plan.connections)
  const path = `${url.pathname}${url.search}`
  const method = target.method.toUpperCase()
  const warmup =
    plan.warmupSec > 0
      ? new Schedule([
          {
            name: 'warm-up',
            duration_sec: plan.warmupSec,
            rate_start: plan.phases[0]?.rate_start ?? 1,
            rate_end: plan.phases[0]?.rate_start ?? 1,
          },
        ])
      : undefined
  const measured = new Schedule(plan.phases)
  const maxInflight = plan.maxInflight ?? plan.connections * 64
  const stats: LoadStats = {
    requests: 0,
    completed: 0,
    errors: 0,
    lateSends: 0,
    unsent: 0,
    statusCounts: {},
    errorCauses: {},
    measuredSec: measured.totalSec,
    achievedRate: 0,
    targetRate: measured.totalRequests / measured.totalSec,
    corrected: new LatencyHistogram(),
    raw: new LatencyHistogram(),
    ok: 0,
    interrupted: false,
    elapsedSec: 0,
    due: 0,
    abandoned: 0,
  }
  // Set once the figures are final: an answer (or a pool error) after that changes nothing.
  let closed = false
  let inflight = 0
  // Resolves when nothing is in flight any more (each sent request answered or failed).
  let drained: (() => void) | undefined
  let n = 0

  const settle = () => {
    inflight--
    if (inflight === 0) drained?.()
  }
  const allSettled = () =>
    inflight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve))

  const send = (intended: number, measure: boolean) => {
    const number = n++
    if (inflight >= maxInflight) {
      if (measure) stats.unsent++
      return
    }
    const queuedAt = performance.now()
    if (measure) {
      stats.requests++
      if (queuedAt - intended > lateThresholdMs) stats.lateSends++
    }
    const failed = (error: NodeJS.ErrnoException) => {
      if (measure && !closed) {
        stats.errors++
        const cause = error.code ?? error.message
        stats.errorCauses[cause] = (stats.errorCauses[cause] ?? 0) + 1
      }
    }
    let head: string
    try {
      head = requestText(method, path, url.host, target.headers(number), target.body(number))
    } catch (error) {
      failed(error as NodeJS.ErrnoException)
      return
    }
    inflight++
    pool.dispatch(
      {
        head,
        onDone: (status, sentAt, at) => {
          settle()
          if (!measure || closed) return
          stats.completed++
          const key = String(status)
          stats.statusCounts[key] = (stats.statusCounts[key] ?? 0) + 1
          if (status >= 200 && status < 300) stats.ok++
          stats.corrected.record((at - intended) * 1000)
          stats.raw.record((at - sentAt) * 1000)
        },
        onError: (error) => {
          settle()
          failed(error)
        },
      },
      method === 'HEAD',
    )
  }

  /** Sends every request of `schedule` as it falls due, starting at `origin` (performance.now ms). */
  const drive = async (schedule: Schedule, origin: number, measure: boolean) => {
    let sent = 0
    let lastProgress = origin
    while (sent < schedule.totalRequests && !hooks.signal?.aborted) {
      const now = performance.now()
      const due = schedule.dueBy((now - origin) / 1000)
      while (sent < due) send(origin + schedule.timeOf(sent++) * 1000, measure)
      if (measure && now - lastProgress >= 1000) {
        lastProgress = now
        hooks.onProgress?.({elapsedSec: (now - origin) / 1000, totalSec: schedule.totalSec, sent, inflight})
      }
      // Sleep until the next request is due (timers are ~1 ms coarse; the late threshold is 10 ms).
      const next = origin + schedule.timeOf(sent) * 1000 - performance.now()
      await delay(Math.max(0, Math.min(next, 50)))
    }
  }

  try {
    if (warmup) await drive(warmup, performance.now(), false)
    await hooks.onMeasureStart?.()
    const start = performance.now()
    await drive(measured, start, true)
    const sendingSec = (performance.now() - start) / 1000
    stats.interrupted =
      hooks.signal?.aborted === true && stats.requests + stats.unsent < measured.totalRequests
    if (stats.interrupted) {
      // What was planned no longer applies: the figures are of the time the run really lasted.
      stats.elapsedSec = sendingSec
      stats.due = measured.dueBy(sendingSec)
      stats.measuredSec = sendingSec
      stats.targetRate = sendingSec > 0 ? stats.due / sendingSec : 0
      stats.achievedRate = sendingSec > 0 ? stats.requests / sendingSec : 0
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        allSettled(),
        new Promise((resolve) => (timer = setTimeout(resolve, interruptGraceMs))),
      ])
      clearTimeout(timer)
      stats.abandoned = stats.requests - stats.completed - stats.errors
    } else {
      // A server that never answers must not hold the run forever: what is still unanswered
      // after the grace is a failure of the server (cause no_answer).
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        allSettled(),
        new Promise((resolve) => (timer = setTimeout(resolve, drainGraceMs))),
      ])
      clearTimeout(timer)
      const unanswered = stats.requests - stats.completed - stats.errors
      if (unanswered > 0) {
        stats.errors += unanswered
        stats.errorCauses.no_answer = (stats.errorCauses.no_answer ?? 0) + unanswered
        stats.abandoned = unanswered
      }
      stats.elapsedSec = sendingSec
      stats.due = measured.totalRequests
      stats.achievedRate = stats.requests / Math.max(sendingSec, measured.totalSec)
    }
    closed = true
    return stats
  } finally {
    closed = true
    pool.close()
  }
}
