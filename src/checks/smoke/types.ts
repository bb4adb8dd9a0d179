import type {SmokeTarget} from './target.js'
import type {Probe} from './probe.js'

export type ScenarioStatus = 'passed' | 'failed' | 'skipped'

/** One request and its answer, or a note, as a scenario recorded it. */
export interface Evidence {
  /** ms since the scenario began. */
  atMs: number
  kind: 'http' | 'note'
  method?: string
  url?: string
  requestBody?: unknown
  status?: number
  durationMs?: number
  /** The answer's body, cut at 2 KiB. */
  responseBody?: string
  error?: string
  text?: string
}

export interface ScenarioResult {
  id: string
  number: number
  title: string
  status: ScenarioStatus
  durationMs: number
  timeoutMs: number
  /** Why it failed or was skipped, naming the cause. */
  reason?: string
  /** One line on what it proved, e.g. "invoice INV-… visible in fi after 84 ms". */
  summary?: string
  /** Numbers worth keeping across runs, e.g. {e2eLatencyMs: 84}. */
  metrics?: Record<string, number>
  evidence: Evidence[]
}

export interface SmokeReport {
  version: 1
  runId: string
  home: string
  portOffset: number
  startedAt: string
  finishedAt: string
  durationMs: number
  status: 'passed' | 'failed'
  /** The first failed scenario and its reason; absent when the run passed. */
  failureReason?: string
  counts: Record<ScenarioStatus, number>
  scenarios: ScenarioResult[]
}

/** Data that later scenarios of the same run use (persistence checks what earlier ones created). */
export interface RunData {
  runId: string
  created: {projects: string[]; timesheets: string[]}
  numShards?: number
}

/** A file a scenario leaves for the failure artifacts (a browser screenshot), named within its run. */
export interface SmokeFile {
  /** Relative to the run's artifacts directory, e.g. `screenshots/14-ui-projects.png`. */
  name: string
  data: Uint8Array
}

export interface ScenarioContext {
  target: SmokeTarget
  probe: Probe
  run: RunData
  signal: AbortSignal
  /** Keeps a file for the failure artifacts (written only when the run fails). */
  attach(file: SmokeFile): void
}

export interface ScenarioOutcome {
  summary?: string
  metrics?: Record<string, number>
}

export interface Scenario {
  id: string
  number: number
  title: string
  timeoutMs: number
  /** Why this scenario cannot run against this stack (a component that has not landed). */
  skipReason?(target: SmokeTarget): string | undefined
  /** Absent while what it checks has not been built: the scenario is then skipped with skipReason. */
  run?(ctx: ScenarioContext): Promise<ScenarioOutcome | void>
}

/** A scenario's verdict with the cause; anything else thrown is reported by its message. */
export class ScenarioFailure extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ScenarioFailure'
  }
}

export function check(condition: unknown, reason: string): asserts condition {
  if (!condition) throw new ScenarioFailure(reason)
}
