import {mkdir} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import {writeFileAtomic} from '../../lib/atomic-file.js'
import {errorMessage} from '../../stack/errors.js'
import {writeFailureArtifacts} from './artifacts.js'
import {toJUnit} from './junit.js'
import {type SmokeContext, type SmokeRequest, runSmoke} from './run.js'
import {
  buildLastSummary,
  type Notification,
  observeTelemetry,
  type RunRecord,
  type TelemetryObservation,
} from './summary.js'
import {loadTarget} from './target.js'
import type {Evidence, SmokeFile, SmokeReport} from './types.js'

export type {LastSummary, Notification, RunRecord} from './summary.js'

export interface SmokeSessionRequest extends SmokeRequest {
  /** Runs to do; undefined with `loop` repeats until interrupted. */
  count?: number
  loop: boolean
  /** Start to start, between runs of a loop. */
  intervalMs: number
  artifactsDir: string
  junitFile?: string
  reportFile?: string
  /** A Slack-compatible incoming webhook: told once on failure and once on recovery. */
  webhookUrl?: string
}

export interface SmokeSessionResult {
  status: 'passed' | 'failed'
  /** The first failure of the session, if any run failed. */
  failureReason?: string
  interrupted: boolean
  runs: RunRecord[]
  /** The whole report of the last run. */
  last: SmokeReport
  summaryFile: string
  notifications: Notification[]
}

export interface SmokeSessionContext extends SmokeContext {
  /** After each run, with its record (and the time the next one starts, in a loop). */
  onRun?: (record: RunRecord, nextRunAt?: Date) => Promise<void> | void
  /** Lets tests and the command see what a webhook could not take. */
  onWarning?: (message: string) => void
}

/**
 * One run, or a loop of runs (`--loop`), with everything CI needs after each: the report and
 * JUnit files, artifacts of a failed run, `last_summary.json`, and a webhook message when the
 * stack starts failing and when it recovers (not one per failed run).
 */
export async function smokeSession(
  request: SmokeSessionRequest,
  context: SmokeSessionContext,
): Promise<SmokeSessionResult> {
  const total = request.loop ? request.count : 1
  const summaryFile = path.join(request.artifactsDir, 'last_summary.json')
  await mkdir(request.artifactsDir, {recursive: true})
  const startedAt = new Date().toISOString()
  const records: RunRecord[] = []
  const reports: SmokeReport[] = []
  const notifications: Notification[] = []
  let last: SmokeReport | undefined
  let consecutiveFailures = 0
  for (let n = 1; total === undefined || n <= total; n++) {
    const runStarted = Date.now()
    const responses: Evidence[] = []
    const files: SmokeFile[] = []
    const report = await runSmoke(request, {...context, responses, files})
    last = report
    // JUnit of a loop keeps every run; the report file is the latest run.
    reports.push(report)
    if (request.junitFile) await writeOut(request.junitFile, toJUnit(reports))
    if (request.reportFile) await writeOut(request.reportFile, `${JSON.stringify(report, null, 2)}\n`)
    const record: RunRecord = {
      run: n,
      runId: report.runId,
      startedAt: report.startedAt,
      durationMs: report.durationMs,
      status: report.status,
      counts: report.counts,
      failureReason: report.failureReason,
    }
    const failedBefore = consecutiveFailures
    if (report.status === 'failed') {
      consecutiveFailures++
      record.artifacts = await writeFailureArtifacts(request.artifactsDir, report, {
        home: context.home,
        responses,
        files,
      })
    } else {
      consecutiveFailures = 0
    }
    records.push(record)
    const failing = report.status === 'failed'
    // Once when it starts failing, once when it recovers: not a message per failed run.
    if (request.webhookUrl && failing !== failedBefore > 0 && !context.signal?.aborted) {
      const notification = await notify(
        request.webhookUrl,
        failing ? 'failure' : 'recovery',
        record,
        failedBefore,
      )
      notifications.push(notification)
      if (!notification.delivered)
        context.onWarning?.(
          `the webhook did not take the ${notification.kind} message: ${notification.error}`,
        )
    }
    const more = !context.signal?.aborted && (total === undefined || n < total)
    const nextRunAt = more ? new Date(runStarted + request.intervalMs) : undefined
    // What the seed's summary reports of pm's telemetry, whichever scenarios ran.
    const telemetry = await telemetryOf(context)
    const summary = buildLastSummary({records, startedAt, nextRunAt, notifications, telemetry})
    await writeFileAtomic(summaryFile, `${JSON.stringify(summary, null, 2)}\n`)
    await context.onRun?.(record, nextRunAt)
    if (!more) break
    const wait = (nextRunAt as Date).getTime() - Date.now()
    if (wait > 0) await delay(wait, undefined, {signal: context.signal}).catch(() => undefined)
    if (context.signal?.aborted) break
  }
  const firstFailure = records.find((r) => r.status === 'failed')
  return {
    status: firstFailure ? 'failed' : 'passed',
    failureReason: firstFailure ? `run ${firstFailure.run}: ${firstFailure.failureReason}` : undefined,
    interrupted: context.signal?.aborted === true,
    runs: records,
    last: last as SmokeReport,
    summaryFile,
    notifications,
  }
}

async function telemetryOf(context: SmokeSessionContext): Promise<TelemetryObservation> {
  let pmUrl: string
  try {
    pmUrl = (await loadTarget(context.home)).url('pm')
  } catch (error) {
    return {ok: false, error: errorMessage(error)}
  }
  return observeTelemetry(pmUrl, context.signal)
}

async function writeOut(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), {recursive: true})
  await writeFileAtomic(path.resolve(file), content)
}

/** Slack's incoming-webhook shape ({text}); most chat webhooks accept it. */
export function webhookMessage(
  kind: 'failure' | 'recovery',
  record: RunRecord,
  failedRuns: number,
): {text: string} {
  const host = os.hostname()
  return kind === 'failure'
    ? {
        text: `:red_circle: poc smoke FAILED on ${host} (run ${record.run}, ${record.runId}): ${record.failureReason}${record.artifacts ? `\nArtifacts: ${record.artifacts}` : ''}`,
      }
    : {
        text: `:large_green_circle: poc smoke RECOVERED on ${host} (run ${record.run}, ${record.runId}): all ${record.counts.passed} scenarios pass again${failedRuns > 0 ? ` after ${failedRuns} failed run(s)` : ''}.`,
      }
}

async function notify(
  url: string,
  kind: 'failure' | 'recovery',
  record: RunRecord,
  consecutiveFailures: number,
): Promise<Notification> {
  const at = new Date().toISOString()
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify(webhookMessage(kind, record, consecutiveFailures)),
      signal: AbortSignal.timeout(10_000),
    })
    await response.text()
    if (!response.ok) return {kind, run: record.run, at, delivered: false, error: `HTTP ${response.status}`}
    return {kind, run: record.run, at, delivered: true}
  } catch (error) {
    return {kind, run: record.run, at, delivered: false, error: errorMessage(error)}
  }
}
