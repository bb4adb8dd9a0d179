import type {ManifestEntry} from './fixtures.js'
import {Unreachable, getJson} from './http.js'
import {type CheckFailure, type CheckOutcome, outcome} from './model.js'
import {dashboardFolder, expectedAlertRule} from './offline.js'

/**
 * The checks against a live Grafana, over its documented HTTP API: the dashboards of the
 * manifest exist (GET /api/search?type=dash-db), the alert rule exists (GET
 * /api/ruler/grafana/api/v1/rules) and is not firing (GET /api/alertmanager/grafana/api/v2/alerts).
 * No Grafana can run on this project's machines (no image can be pulled, no Debian package), so
 * these functions are tested on answers shaped as Grafana's documentation shows them.
 */

export interface SearchHit {
  uid?: string
  title?: string
  type?: string
  folderTitle?: string
}

/** Ruler API: folder (namespace) → rule groups, each rule with its Grafana-managed part. */
export type RulerRules = Record<
  string,
  Array<{name?: string; rules?: Array<{grafana_alert?: {uid?: string; title?: string}}>}>
>

export interface AlertmanagerAlert {
  labels?: Record<string, string>
  status?: {state?: string}
  startsAt?: string
}

export function judgeDashboards(manifest: ManifestEntry[], hits: SearchHit[]): CheckOutcome {
  const failures: CheckFailure[] = []
  for (const entry of manifest) {
    const hit = hits.find((h) => h.uid === entry.uid)
    const subject = `dashboard "${entry.title}" (${entry.uid})`
    if (!hit)
      failures.push({
        subject,
        message: 'is not in Grafana (GET /api/search?type=dash-db): is the dashboard provider mounted?',
      })
    else if (hit.title !== entry.title)
      failures.push({subject, message: `is titled "${hit.title ?? ''}" in Grafana`})
    else if (hit.folderTitle !== undefined && hit.folderTitle !== dashboardFolder)
      failures.push({subject, message: `is in the folder "${hit.folderTitle}", not "${dashboardFolder}"`})
  }
  return outcome(
    'grafana',
    'grafana-dashboards',
    'Grafana has every dashboard of the manifest',
    manifest.length,
    failures,
  )
}

export function judgeRule(rules: RulerRules): CheckOutcome {
  const e = expectedAlertRule
  const found = Object.entries(rules).flatMap(([folder, groups]) =>
    (groups ?? []).flatMap((g) =>
      (g.rules ?? []).flatMap((r) =>
        r.grafana_alert?.uid === e.uid ? [{folder, group: g.name, title: r.grafana_alert.title}] : [],
      ),
    ),
  )
  const subject = `alert rule ${e.title} (${e.uid})`
  const failures: CheckFailure[] = []
  const rule = found[0]
  if (!rule)
    failures.push({
      subject,
      message: 'is not in Grafana (GET /api/ruler/grafana/api/v1/rules): is provisioning/alerting mounted?',
    })
  else {
    if (rule.title !== e.title)
      failures.push({subject, message: `is titled "${rule.title ?? ''}" in Grafana`})
    if (rule.group !== e.group)
      failures.push({subject, message: `is in the group "${rule.group ?? ''}", not "${e.group}"`})
  }
  return outcome('grafana', 'grafana-alert-rule', `Grafana has the alert rule ${e.title}`, 1, failures)
}

export function judgeAlerts(alerts: AlertmanagerAlert[]): CheckOutcome {
  const e = expectedAlertRule
  const firing = alerts.filter(
    (a) =>
      (a.labels?.__alert_rule_uid__ === e.uid || a.labels?.alertname === e.title) &&
      (a.status?.state ?? 'active') === 'active',
  )
  return outcome(
    'grafana',
    'grafana-alert-firing',
    `${e.title} is not firing`,
    alerts.length,
    firing.map((a) => ({
      subject: `alert ${e.title}`,
      message: `has been firing since ${a.startsAt ?? '?'}: the UI or a server keeps falling back to mock data (poc telemetry tail --event mock_fallback)`,
    })),
  )
}

export interface GrafanaReport {
  version?: string
  checks: CheckOutcome[]
}

export async function grafanaChecks(
  baseUrl: string,
  manifest: ManifestEntry[],
  credentials: {user: string; password: string},
  signal?: AbortSignal,
): Promise<GrafanaReport> {
  const base = baseUrl.replace(/\/+$/, '')
  const health = await getJson(`${base}/api/health`, {signal})
  if (health.status !== 200)
    throw new Unreachable(
      base,
      `${base}/api/health answered ${health.status}: is this Grafana, and is it up?`,
    )
  const version = (health.json as {version?: string} | undefined)?.version
  const headers = {
    authorization: `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`,
  }
  const get = async (route: string) => {
    const answer = await getJson(`${base}${route}`, {headers, signal})
    if (answer.status === 401 || answer.status === 403)
      throw new Unreachable(
        base,
        `Grafana refused ${credentials.user}'s credentials (${answer.status} on ${route}): pass --grafana-user and --grafana-password`,
      )
    if (answer.status !== 200)
      throw new Unreachable(
        base,
        `GET ${base}${route} answered ${answer.status}: ${answer.text.slice(0, 200)}`,
      )
    return answer.json
  }
  const hits = ((await get('/api/search?type=dash-db&limit=5000')) ?? []) as SearchHit[]
  const rules = ((await get('/api/ruler/grafana/api/v1/rules')) ?? {}) as RulerRules
  const alerts = ((await get('/api/alertmanager/grafana/api/v2/alerts')) ?? []) as AlertmanagerAlert[]
  return {
    ...(version ? {version} : {}),
    checks: [judgeDashboards(manifest, hits), judgeRule(rules), judgeAlerts(alerts)],
  }
}
