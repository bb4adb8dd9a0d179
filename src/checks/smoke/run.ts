import {randomBytes} from 'node:crypto'
import {formatDuration} from '../../stack/clock.js'
import {errorMessage, usageError} from '../../stack/errors.js'
import type {PocHome} from '../../stack/home.js'
import {Probe} from './probe.js'
import {scenarios} from './scenarios.js'
import {loadTarget} from './target.js'
import {
  type Evidence,
  type RunData,
  type Scenario,
  type ScenarioResult,
  ScenarioFailure,
  type SmokeFile,
  type SmokeReport,
} from './types.js'

export interface SmokeRequest {
  /** Scenario ids or numbers to run (default: all). */
  only?: string[]
  /** Scenario ids or numbers to leave out. */
  skip?: string[]
  /** Replaces every scenario's own timeout. */
  timeoutMs?: number
}

export type SmokeProgress =
  {phase: 'start'; scenario: Scenario} | {phase: 'done'; scenario: Scenario; result: ScenarioResult}

export interface SmokeContext {
  home: PocHome
  signal?: AbortSignal
  progress?: (event: SmokeProgress) => void
  /** Receives every HTTP exchange of the run, newest last (bounded), for the failure artifacts. */
  responses?: Evidence[]
  /** Receives the files scenarios attach (screenshots), for the failure artifacts. */
  files?: SmokeFile[]
}

/** After a scenario's deadline its own polls get this long to report what they last saw. */
const deadlineGraceMs = 1000

/** The scenarios a run covers, in order; an unknown name is a usage error listing the known ones. */
export function selectScenarios(only?: string[], skip?: string[]): Scenario[] {
  const find = (name: string) => {
    const wanted = name.trim()
    const scenario = scenarios.find((s) => s.id === wanted || String(s.number) === wanted)
    if (!scenario) {
      throw usageError(`no smoke scenario "${wanted}"`, [
        `Known scenarios: ${scenarios.map((s) => `${s.number} ${s.id}`).join(', ')}`,
      ])
    }
    return scenario
  }
  const included = only && only.length > 0 ? new Set(only.map(find)) : new Set(scenarios)
  for (const name of skip ?? []) included.delete(find(name))
  return scenarios.filter((s) => included.has(s))
}

/** One run of the smoke scenarios against the stack in `home`, one after another. */
export async function runSmoke(request: SmokeRequest, context: SmokeContext): Promise<SmokeReport> {
  const selected = selectScenarios(request.only, request.skip)
  const target = await loadTarget(context.home)
  const startedAt = new Date()
  const began = performance.now()
  const run: RunData = {
    runId: `${startedAt.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`,
    created: {projects: [], timesheets: []},
  }
  const responses = context.responses ?? []
  const files = context.files ?? []
  const results: ScenarioResult[] = []
  for (const scenario of selected) {
    if (context.signal?.aborted) break
    context.progress?.({phase: 'start', scenario})
    const timeoutMs = request.timeoutMs ?? scenario.timeoutMs
    const skipReason = scenario.skipReason?.(target)
    const result: ScenarioResult =
      skipReason !== undefined || !scenario.run
        ? {
            ...heading(scenario, timeoutMs),
            status: 'skipped',
            durationMs: 0,
            reason: skipReason,
            evidence: [],
          }
        : await runScenario(scenario, timeoutMs, {target, run, responses, files, signal: context.signal})
    results.push(result)
    context.progress?.({phase: 'done', scenario, result})
  }
  const failed = results.filter((r) => r.status === 'failed')
  const interrupted = context.signal?.aborted === true
  const firstFailure = failed[0]
  return {
    version: 1,
    runId: run.runId,
    home: context.home.root,
    portOffset: target.portOffset,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: Math.round(performance.now() - began),
    status: failed.length > 0 || interrupted ? 'failed' : 'passed',
    failureReason: firstFailure
      ? `${firstFailure.number} ${firstFailure.id}: ${firstFailure.reason}${failed.length > 1 ? ` (and ${failed.length - 1} more failed)` : ''}`
      : interrupted
        ? 'interrupted before every scenario ran'
        : undefined,
    counts: {
      passed: results.filter((r) => r.status === 'passed').length,
      failed: failed.length,
      skipped: results.filter((r) => r.status === 'skipped').length,
    },
    scenarios: results,
  }
}

function heading(scenario: Scenario, timeoutMs: number) {
  return {id: scenario.id, number: scenario.number, title: scenario.title, timeoutMs}
}

async function runScenario(
  scenario: Scenario,
  timeoutMs: number,
  shared: {
    target: Awaited<ReturnType<typeof loadTarget>>
    run: RunData
    responses: Evidence[]
    files: SmokeFile[]
    signal?: AbortSignal
  },
): Promise<ScenarioResult> {
  const deadline = AbortSignal.timeout(timeoutMs)
  const signal = shared.signal ? AbortSignal.any([deadline, shared.signal]) : deadline
  const probe = new Probe(signal, shared.responses)
  const began = performance.now()
  let abandon: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  // A step that ignores the signal (a stuck broker call) still cannot hold the run past its deadline.
  const overdue = new Promise<never>((_, reject) => {
    onAbort = () => (abandon = setTimeout(() => reject(new Error('deadline')), deadlineGraceMs))
    signal.addEventListener('abort', onAbort, {once: true})
  })
  overdue.catch(() => undefined)
  try {
    const outcome = await Promise.race([
      (scenario.run as NonNullable<Scenario['run']>)({
        target: shared.target,
        probe,
        run: shared.run,
        signal,
        attach: (file) => shared.files.push(file),
      }),
      overdue,
    ])
    return {
      ...heading(scenario, timeoutMs),
      status: 'passed',
      durationMs: Math.round(performance.now() - began),
      summary: outcome?.summary,
      metrics: outcome?.metrics,
      evidence: probe.evidence,
    }
  } catch (error) {
    let reason: string
    if (error instanceof ScenarioFailure) reason = error.message
    else if (shared.signal?.aborted) reason = 'interrupted'
    else if (deadline.aborted) reason = `timed out after ${formatDuration(timeoutMs)}${lastStep(probe)}`
    else reason = errorMessage(error)
    return {
      ...heading(scenario, timeoutMs),
      status: 'failed',
      durationMs: Math.round(performance.now() - began),
      reason,
      evidence: probe.evidence,
    }
  } finally {
    // The deadline of a finished scenario must not start a timer later on.
    signal.removeEventListener('abort', onAbort as () => void)
    clearTimeout(abandon)
  }
}

function lastStep(probe: Probe): string {
  const last = probe.evidence.at(-1)
  if (!last) return ''
  return last.kind === 'http' ? ` during ${last.method} ${last.url}` : ` after: ${last.text}`
}
