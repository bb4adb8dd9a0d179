/** What `poc grafana check` reports: its JSON contract. */

export type CheckPhase = 'offline' | 'prometheus' | 'grafana'

export interface CheckFailure {
  /** What failed, e.g. `HFT Fast Path (hft-fast-path) › panel 3 "Ack latency" › query A`. */
  subject: string
  /** Why, with what to do when it is not obvious. */
  message: string
}

export interface CheckOutcome {
  phase: CheckPhase
  id: string
  title: string
  status: 'passed' | 'failed'
  /** How many things this check looked at (entries, panels, queries, targets…). */
  checked: number
  failures: CheckFailure[]
  /** How it was checked, when that matters (which parser, which server). */
  note?: string
}

export interface PanelCounts {
  dashboards: number
  panels: number
  prometheusPanels: number
  lokiPanels: number
  /** Metrics panels whose queries ran against a live Prometheus, and those that returned series. */
  queriedLive: number
  withLiveData: number
}

export interface GrafanaCheckResult {
  /** `unavailable`: a Prometheus or Grafana the check was told to use could not be reached. */
  status: 'passed' | 'failed' | 'unavailable'
  fixtures: string
  prometheus?: {url: string; version?: string; reachable: boolean; error?: string}
  grafana?: {url: string; version?: string; reachable: boolean; error?: string}
  counts: PanelCounts
  checks: CheckOutcome[]
  /** What this run verified, and what it did not (said in the output too). */
  verified: string[]
  notVerified: string[]
}

export function outcome(
  phase: CheckPhase,
  id: string,
  title: string,
  checked: number,
  failures: CheckFailure[],
  note?: string,
): CheckOutcome {
  return {
    phase,
    id,
    title,
    status: failures.length === 0 ? 'passed' : 'failed',
    checked,
    failures,
    ...(note === undefined ? {} : {note}),
  }
}
