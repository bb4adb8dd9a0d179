import {type ComponentName} from '../../stack/catalog.js'
import {componentContext} from '../../stack/context.js'
import type {PocHome} from '../../stack/home.js'
import {processesAlive} from '../../stack/native.js'
import {readState} from '../../stack/state.js'
import {loadFixtures, shippedFixtures} from './fixtures.js'
import {grafanaChecks} from './grafana-live.js'
import {Unreachable} from './http.js'
import type {CheckOutcome, GrafanaCheckResult} from './model.js'
import {intervalValues, manifestDashboards, offlineChecks} from './offline.js'
import {prometheusChecks} from './prometheus.js'

/** SPEC §6.3: the manifest and dashboards offline, then against Prometheus and Grafana when asked or running. */

export interface GrafanaCheckOptions {
  home: PocHome
  /** A fixtures directory laid out as the shipped one (default: the one poc ships). */
  fixturesDir?: string
  /** Check against this Prometheus; default: the stack's own when it runs one. */
  prometheusUrl?: string
  /** Only the offline checks, even when the stack runs Prometheus. */
  offline?: boolean
  /** Check against Grafana: `grafanaUrl`, or the stack's own. */
  live?: boolean
  grafanaUrl?: string
  grafanaUser?: string
  grafanaPassword?: string
  /** How far back the panels' queries look for data. */
  windowMs?: number
  signal?: AbortSignal
}

export const defaultWindowMs = 5 * 60_000
/** The step of the panels' range queries, about what Grafana picks for a small panel over minutes. */
const stepMs = 15_000

/** The URL of a component of the stack in `home` when it runs, natively with a live process. */
export async function stackUrl(home: PocHome, name: ComponentName): Promise<string | undefined> {
  const {state} = await readState(home, {moveCorruptAside: false})
  const record = state?.components.find((c) => c.name === name)
  if (!state || !record || !processesAlive(record.processes)) return undefined
  const ctx = componentContext(name, home, state.portOffset)
  return `http://${ctx.host}:${ctx.ports.http}`
}

export async function grafanaCheck(options: GrafanaCheckOptions): Promise<GrafanaCheckResult> {
  const dir = options.fixturesDir ?? shippedFixtures
  const windowMs = options.windowMs ?? defaultWindowMs
  const fixtures = await loadFixtures(dir)
  const intervals = intervalValues(fixtures, stepMs, windowMs)
  const offline = await offlineChecks(fixtures, intervals)
  const checks: CheckOutcome[] = [...offline.checks]
  const dashboards = manifestDashboards(fixtures)
  const panels = dashboards.flatMap((d) => d.panels.filter((p) => p.queries.length > 0))
  const panelsOf = (type: string) =>
    new Set(
      offline.queries
        .filter((q) => q.datasource?.type === type)
        .map((q) => `${q.dashboard.file}#${q.panel.id}`),
    ).size
  const result: GrafanaCheckResult = {
    status: 'passed',
    fixtures: dir,
    counts: {
      dashboards: dashboards.length,
      panels: panels.length,
      prometheusPanels: panelsOf('prometheus'),
      lokiPanels: panelsOf('loki'),
      queriedLive: 0,
      withLiveData: 0,
    },
    checks,
    verified: [
      `offline: ${dashboards.length} dashboards, ${panels.length} panels, the alert rule and the provisioning in ${dir}; metrics from ${offline.known.sources.join('; ')}`,
    ],
    notVerified: [],
  }

  const prometheusUrl =
    options.prometheusUrl ?? (options.offline ? undefined : await stackUrl(options.home, 'prometheus'))
  if (prometheusUrl) {
    try {
      const report = await prometheusChecks(prometheusUrl, fixtures, offline.queries, {
        intervals,
        windowMs,
        stepMs,
        signal: options.signal,
      })
      checks.push(...report.checks)
      result.prometheus = {
        url: prometheusUrl,
        reachable: true,
        ...(report.version ? {version: report.version} : {}),
      }
      result.counts.queriedLive = report.queriedPanels
      result.counts.withLiveData = report.panelsWithData
      result.verified.push(
        `Prometheus ${report.version ?? ''} at ${prometheusUrl}: targets, rules, and ${report.queriedPanels} metrics panels queried live (${report.panelsWithData} returned data)`,
      )
    } catch (error) {
      if (!(error instanceof Unreachable)) throw error
      result.prometheus = {url: prometheusUrl, reachable: false, error: error.message}
      result.status = 'unavailable'
    }
  } else {
    result.notVerified.push(
      'no Prometheus was queried, so no panel was run against live data: pass --prometheus-url, or run the check on a stack started with --with observability',
    )
  }

  const grafanaUrl = options.live
    ? (options.grafanaUrl ?? (await stackUrl(options.home, 'grafana')))
    : undefined
  if (options.live && !grafanaUrl) {
    result.grafana = {
      url: '',
      reachable: false,
      error: 'no Grafana: pass --grafana-url (the stack runs none; Grafana needs a container runtime)',
    }
    result.status = 'unavailable'
  } else if (grafanaUrl) {
    try {
      const report = await grafanaChecks(
        grafanaUrl,
        fixtures.manifest ?? [],
        {user: options.grafanaUser ?? 'admin', password: options.grafanaPassword ?? 'admin'},
        options.signal,
      )
      checks.push(...report.checks)
      result.grafana = {
        url: grafanaUrl,
        reachable: true,
        ...(report.version ? {version: report.version} : {}),
      }
      result.verified.push(
        `Grafana ${report.version ?? ''} at ${grafanaUrl}: dashboards, alert rule, alert state`,
      )
    } catch (error) {
      if (!(error instanceof Unreachable)) throw error
      result.grafana = {url: grafanaUrl, reachable: false, error: error.message}
      result.status = 'unavailable'
    }
  } else {
    result.notVerified.push(
      'Grafana itself was not asked (--live): the dashboards and the alert rule were checked as files only',
    )
  }
  result.notVerified.push(
    'logs panels and the alert rule were not run against Loki: their LogQL and the Promtail labels they select were checked statically',
  )
  if (result.status !== 'unavailable' && checks.some((c) => c.status === 'failed')) result.status = 'failed'
  return result
}
