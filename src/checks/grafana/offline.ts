import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {execa} from 'execa'
import {stringify} from 'yaml'
import {findBinary} from '../../stack/native.js'
import {type KnownMetrics, knownMetrics} from './exported-metrics.js'
import {
  type Dashboard,
  type Datasource,
  type DatasourceRef,
  type Fixtures,
  type Panel,
  type PanelQuery,
  panelSubject,
} from './fixtures.js'
import {type CheckFailure, type CheckOutcome, outcome} from './model.js'
import {
  type IntervalValues,
  closest,
  durationMs,
  readLogql,
  readPromql,
  substituteVariables,
} from './queries.js'

/** The alert rule of SPEC §6.3 and seed 000, as it must be provisioned. */
export const expectedAlertRule = {
  uid: 'telemetry-fallback',
  title: 'TelemetryFallbackSpike',
  folder: 'PoC Alerts',
  group: 'poc-telemetry',
  for: '5m',
  severity: 'warning',
} as const

/** The folder the dashboards are provisioned into (seed 000: Dashboards → Browse → Poc Dashboards). */
export const dashboardFolder = 'Poc Dashboards'

/** Datasource uids Grafana itself provides: expressions and its built-in annotations. */
const builtinDatasources = new Set(['__expr__', '-100', '-- Grafana --', 'grafana', '-- Dashboard --'])

export interface ResolvedQuery {
  dashboard: Dashboard
  panel: Panel
  query: PanelQuery
  datasource?: Datasource
  subject: string
}

/** The datasource a query runs on: its own, else its panel's, else the provisioned default. */
export function resolveQueries(fixtures: Fixtures): {queries: ResolvedQuery[]; failures: CheckFailure[]} {
  const queries: ResolvedQuery[] = []
  const failures: CheckFailure[] = []
  const byRef = (ref: DatasourceRef | undefined): Datasource | undefined | 'builtin' => {
    if (!ref || (ref.uid === undefined && ref.name === undefined)) {
      return fixtures.datasources.find((d) => d.isDefault && (!ref?.type || d.type === ref.type))
    }
    if (ref.uid !== undefined && builtinDatasources.has(ref.uid)) return 'builtin'
    return fixtures.datasources.find((d) => (ref.uid !== undefined ? d.uid === ref.uid : d.name === ref.name))
  }
  for (const dashboard of manifestDashboards(fixtures)) {
    for (const panel of dashboard.panels) {
      for (const query of panel.queries) {
        const subject = panelSubject(dashboard, panel, query)
        const mixed = panel.datasource?.uid === '-- Mixed --'
        const ref = query.datasource ?? (mixed ? undefined : panel.datasource)
        if (ref?.uid?.startsWith('$')) {
          failures.push({
            subject,
            message: `names its datasource through the variable ${ref.uid}: provision a fixed uid so the check (and a fresh Grafana) can resolve it`,
          })
          continue
        }
        const found = byRef(ref)
        if (found === 'builtin') continue
        if (!found) {
          const named = ref?.uid ?? ref?.name
          failures.push({
            subject,
            message: named
              ? `names datasource "${named}", which grafana/provisioning/datasources does not provision (provisioned: ${fixtures.datasources.map((d) => d.uid).join(', ') || 'none'})`
              : 'names no datasource and none is provisioned as the default',
          })
          queries.push({dashboard, panel, query, subject})
          continue
        }
        if (ref?.type && ref.type !== found.type) {
          failures.push({
            subject,
            message: `names datasource ${found.uid} as type ${ref.type}, but it is provisioned as ${found.type}`,
          })
        }
        queries.push({dashboard, panel, query, datasource: found, subject})
      }
    }
  }
  return {queries, failures}
}

/** The dashboards the manifest lists and that could be read, in manifest order. */
export function manifestDashboards(fixtures: Fixtures): Dashboard[] {
  return (fixtures.manifest ?? []).flatMap((e) => {
    const d = fixtures.dashboards.get(path.posix.normalize(e.file))
    return d ? [d] : []
  })
}

/** $__interval and $__rate_interval as Grafana computes them for a step and a scrape interval. */
export function intervalValues(fixtures: Fixtures, stepMs: number, rangeMs: number): IntervalValues {
  const prometheus = fixtures.datasources.find((d) => d.type === 'prometheus')
  const scrapeMs = durationMs(prometheus?.jsonData?.timeInterval ?? '15s') || 15_000
  const rateMs = Math.max(4 * scrapeMs, stepMs + scrapeMs)
  return {
    interval: `${Math.round(stepMs / 1000)}s`,
    rateInterval: `${rateMs / 1000}s`,
    range: `${Math.round(rangeMs / 1000)}s`,
  }
}

export interface OfflineReport {
  checks: CheckOutcome[]
  queries: ResolvedQuery[]
  known: KnownMetrics
}

export async function offlineChecks(fixtures: Fixtures, intervals: IntervalValues): Promise<OfflineReport> {
  const checks: CheckOutcome[] = []
  const manifest = fixtures.manifest ?? []

  // 1. Every manifest entry's file exists, is JSON, and has that title and uid.
  const entryFailures = [...fixtures.problems.manifest]
  for (const entry of manifest) {
    const subject = `manifest entry "${entry.title}" (${entry.uid})`
    const file = path.posix.normalize(entry.file)
    const dashboard = fixtures.dashboards.get(file)
    if (!dashboard) {
      const broken = fixtures.problems.dashboards.find((p) => p.subject === file)
      entryFailures.push({
        subject,
        message: broken
          ? `its file grafana/${file} ${broken.message}`
          : `its file grafana/${file} does not exist (dashboards must live in grafana/dashboards)`,
      })
      continue
    }
    if (dashboard.title !== entry.title)
      entryFailures.push({
        subject,
        message: `grafana/${file} is titled "${dashboard.title ?? ''}", not "${entry.title}"`,
      })
    if (dashboard.uid !== entry.uid)
      entryFailures.push({
        subject,
        message: `grafana/${file} has uid "${dashboard.uid ?? ''}", not "${entry.uid}"`,
      })
  }
  checks.push(
    outcome(
      'offline',
      'manifest',
      'manifest entries match their dashboard files',
      manifest.length,
      entryFailures,
    ),
  )

  // 2. No dashboard file is missing from the manifest.
  const listed = new Set(manifest.map((e) => path.posix.normalize(e.file)))
  const files = [...fixtures.dashboards.keys(), ...fixtures.problems.dashboards.map((p) => p.subject)]
  checks.push(
    outcome(
      'offline',
      'unlisted',
      'every dashboard file is in the manifest',
      files.length,
      files
        .filter((f) => !listed.has(f))
        .map((f) => ({
          subject: `grafana/${f}`,
          message: 'is provisioned by Grafana but missing from grafana/manifest.json',
        })),
    ),
  )

  // 3. uids and titles are unique, in the manifest and among the files.
  const uniqueFailures: CheckFailure[] = []
  const duplicates = (values: string[]) => [...new Set(values.filter((v, i) => values.indexOf(v) !== i))]
  for (const uid of duplicates(manifest.map((e) => e.uid)))
    uniqueFailures.push({
      subject: `uid "${uid}"`,
      message: `is used by ${manifest.filter((e) => e.uid === uid).length} manifest entries`,
    })
  for (const title of duplicates(manifest.map((e) => e.title)))
    uniqueFailures.push({
      subject: `title "${title}"`,
      message: `is used by ${manifest.filter((e) => e.title === title).length} manifest entries`,
    })
  const fileUids = [...fixtures.dashboards.values()].flatMap((d) => (d.uid ? [d.uid] : []))
  for (const uid of duplicates(fileUids)) {
    const owners = [...fixtures.dashboards.values()]
      .filter((d) => d.uid === uid)
      .map((d) => `grafana/${d.file}`)
    uniqueFailures.push({
      subject: `uid "${uid}"`,
      message: `is the uid of ${owners.join(' and ')}: Grafana keeps only one of them`,
    })
  }
  checks.push(
    outcome('offline', 'unique', 'dashboard uids and titles are unique', manifest.length, uniqueFailures),
  )

  // 4. Provisioning: datasources with uids, the dashboard provider and its folder.
  const provisioningFailures = [...fixtures.problems.provisioning]
  if (fixtures.datasources.length === 0)
    provisioningFailures.push({
      subject: 'grafana/provisioning/datasources',
      message: 'provisions no datasource',
    })
  for (const ds of fixtures.datasources) {
    if (!ds.uid)
      provisioningFailures.push({
        subject: `datasource "${ds.name}"`,
        message: 'has no uid: dashboards cannot name it',
      })
  }
  for (const uid of duplicates(fixtures.datasources.map((d) => d.uid)))
    provisioningFailures.push({subject: `datasource uid "${uid}"`, message: 'is provisioned twice'})
  if (!fixtures.dashboardProviders.some((p) => p.folder === dashboardFolder))
    provisioningFailures.push({
      subject: 'grafana/provisioning/dashboards',
      message: `has no dashboard provider for the folder "${dashboardFolder}"`,
    })
  checks.push(
    outcome(
      'offline',
      'provisioning',
      `datasources and the "${dashboardFolder}" provider are provisioned`,
      fixtures.datasources.length + fixtures.dashboardProviders.length,
      provisioningFailures,
    ),
  )

  // 5. Every datasource a panel names is provisioned.
  const {queries, failures: datasourceFailures} = resolveQueries(fixtures)
  const panelsWithQueries = manifestDashboards(fixtures).flatMap((d) =>
    d.panels.filter((p) => p.queries.length > 0),
  )
  checks.push(
    outcome(
      'offline',
      'datasources',
      'every datasource a panel names is provisioned',
      panelsWithQueries.length,
      datasourceFailures,
    ),
  )

  // 6. No duplicate panel ids within a dashboard.
  const idFailures: CheckFailure[] = []
  let panelCount = 0
  for (const dashboard of manifestDashboards(fixtures)) {
    const ids = dashboard.panels.map((p) => p.id)
    panelCount += ids.length
    for (const panel of dashboard.panels) {
      if (panel.id === undefined)
        idFailures.push({subject: panelSubject(dashboard, panel), message: 'has no id'})
    }
    for (const id of duplicates(ids.filter((i): i is number => i !== undefined).map(String))) {
      const titles = dashboard.panels.filter((p) => String(p.id) === id).map((p) => `"${p.title}"`)
      idFailures.push({
        subject: panelSubject(dashboard),
        message: `panel id ${id} is used by ${titles.join(' and ')}`,
      })
    }
  }
  checks.push(
    outcome('offline', 'panel-ids', 'panel ids are unique within each dashboard', panelCount, idFailures),
  )

  // 7. PromQL parses; 8. every metric is exported.
  const prometheusQueries = queries.filter((q) => q.datasource?.type === 'prometheus')
  const parseFailures: CheckFailure[] = []
  const parsed: Array<{q: ResolvedQuery; expr: string; metrics: string[]}> = []
  for (const q of prometheusQueries) {
    const {query: expr, unknown} = substituteVariables(q.query.expr, intervals, q.dashboard.variables)
    if (unknown.length > 0) {
      parseFailures.push({
        subject: q.subject,
        message: `uses ${unknown.map((u) => `$${u}`).join(', ')}, which the dashboard does not define`,
      })
      continue
    }
    const reading = readPromql(expr)
    if (reading.errors.length > 0) {
      const e = reading.errors[0] as {column: number; near: string}
      parseFailures.push({
        subject: q.subject,
        message: `PromQL syntax error at column ${e.column} near "${e.near}": ${expr}`,
      })
      continue
    }
    parsed.push({q, expr, metrics: reading.metrics})
  }
  const promtool = await promtoolParse(parsed.map((p) => p.expr))
  for (const [index, message] of promtool.errors) {
    const p = parsed[index]
    if (p)
      parseFailures.push({
        subject: p.q.subject,
        message: `Prometheus' parser (promtool): ${message}: ${p.expr}`,
      })
  }
  checks.push(
    outcome(
      'offline',
      'promql',
      'the PromQL of every metrics panel parses',
      prometheusQueries.length,
      parseFailures,
      promtool.ran
        ? `@prometheus-io/lezer-promql, then Prometheus' own parser (${promtool.version})`
        : '@prometheus-io/lezer-promql only: promtool (Debian package prometheus) is not installed',
    ),
  )

  const known = await knownMetrics(fixtures.dir)
  const metricFailures: CheckFailure[] = []
  for (const {q, metrics} of parsed) {
    for (const metric of metrics) {
      if (known.exporters.has(metric)) continue
      const near = closest(metric, known.exporters.keys())
      metricFailures.push({
        subject: q.subject,
        message: `queries ${metric}, which no component of the catalog exports${near ? ` (did you mean ${near}, exported by ${(known.exporters.get(near) ?? []).join(', ')}?)` : ''}`,
      })
    }
  }
  checks.push(
    outcome(
      'offline',
      'metrics',
      'every metric a panel queries is exported',
      parsed.reduce((n, p) => n + p.metrics.length, 0),
      metricFailures,
      known.sources.join('; '),
    ),
  )

  // 9. LogQL parses and selects labels Promtail sets.
  const lokiQueries = queries.filter((q) => q.datasource?.type === 'loki')
  const logFailures: CheckFailure[] = [...fixtures.problems.promtail]
  for (const q of lokiQueries)
    logFailures.push(...logqlProblems(q.subject, q.query.expr, intervals, q.dashboard.variables, fixtures))
  checks.push(
    outcome(
      'offline',
      'logql',
      'the LogQL of every logs panel parses and selects labels Promtail sets',
      lokiQueries.length,
      logFailures,
      '@grafana/lezer-logql; labels from promtail/promtail-config.yaml',
    ),
  )

  // 10. The alert rule is provisioned, and can fire.
  checks.push(alertRuleCheck(fixtures, intervals))
  return {checks, queries, known}
}

function logqlProblems(
  subject: string,
  raw: string,
  intervals: IntervalValues,
  variables: Record<string, string>,
  fixtures: Fixtures,
): CheckFailure[] {
  const {query, unknown} = substituteVariables(raw, intervals, variables)
  if (unknown.length > 0)
    return [
      {
        subject,
        message: `uses ${unknown.map((u) => `$${u}`).join(', ')}, which the dashboard does not define`,
      },
    ]
  const reading = readLogql(query)
  if (reading.errors.length > 0) {
    const e = reading.errors[0] as {column: number; near: string}
    return [{subject, message: `LogQL syntax error at column ${e.column} near "${e.near}": ${query}`}]
  }
  const failures: CheckFailure[] = []
  for (const selector of reading.selectors) {
    const job = selector.find((m) => m.label === 'job')
    let jobs = fixtures.promtailJobs
    if (job && job.op === '=') jobs = jobs.filter((j) => j.job === job.value)
    else if (job && job.op === '=~')
      jobs = jobs.filter((j) => j.job !== undefined && new RegExp(`^(?:${job.value})$`).test(j.job))
    if (job && jobs.length === 0) {
      failures.push({subject, message: `selects job${job.op}"${job.value}", which no Promtail job ships`})
      continue
    }
    for (const m of selector) {
      if (m.label === 'job' || jobs.some((j) => j.labels.has(m.label))) continue
      failures.push({
        subject,
        message: `selects the label ${m.label}, which Promtail never sets${job ? ` on job="${job.value}"` : ''} (it sets ${[...new Set(jobs.flatMap((j) => [...j.labels]))].sort().join(', ')}), so the query can never match`,
      })
    }
  }
  return failures
}

function alertRuleCheck(fixtures: Fixtures, intervals: IntervalValues): CheckOutcome {
  const e = expectedAlertRule
  const subject = `alert rule ${e.title} (${e.uid})`
  const rule = fixtures.alertRules.find((r) => r.uid === e.uid)
  const failures: CheckFailure[] = []
  if (!rule) {
    failures.push({subject, message: 'is not provisioned in grafana/provisioning/alerting'})
  } else {
    const expect = (what: string, actual: unknown, wanted: unknown) => {
      if (actual !== wanted)
        failures.push({
          subject,
          message: `${what} is ${JSON.stringify(actual ?? null)}, expected ${JSON.stringify(wanted)}`,
        })
    }
    expect('its title', rule.title, e.title)
    expect('its folder', rule.folder, e.folder)
    expect('its group', rule.group, e.group)
    expect('its pending period (for)', rule.for, e.for)
    expect('its severity label', rule.labels?.severity, e.severity)
    const refIds = rule.data.map((d) => d.refId)
    if (!rule.condition || !refIds.includes(rule.condition))
      failures.push({
        subject,
        message: `its condition "${rule.condition ?? ''}" names none of its queries (${refIds.join(', ')})`,
      })
    for (const d of rule.data) {
      const uid = d.datasourceUid ?? ''
      if (builtinDatasources.has(uid)) continue
      const ds = fixtures.datasources.find((x) => x.uid === uid)
      const part = `${subject} › query ${d.refId ?? '?'}`
      if (!ds) {
        failures.push({subject: part, message: `runs on datasource "${uid}", which is not provisioned`})
        continue
      }
      const expr = d.model?.expr ?? ''
      if (ds.type === 'loki') failures.push(...logqlProblems(part, expr, intervals, {}, fixtures))
      if (ds.type === 'prometheus' && readPromql(expr).errors.length > 0)
        failures.push({subject: part, message: `PromQL syntax error: ${expr}`})
    }
  }
  return outcome(
    'offline',
    'alert-rule',
    `the alert rule ${e.title} is provisioned and can fire`,
    1,
    failures,
  )
}

const promtoolBinary = {
  name: 'promtool',
  candidates: ['/usr/bin/promtool'],
  debianPackage: 'prometheus',
  searchPath: true,
}

/**
 * Prometheus' own parser, offline: the expressions as recording rules of a temporary file for
 * `promtool check rules`, which reports every expression that does not parse or type-check.
 */
async function promtoolParse(
  exprs: string[],
): Promise<{ran: boolean; version?: string; errors: Map<number, string>}> {
  const binary = findBinary(promtoolBinary)
  if (!binary || exprs.length === 0) return {ran: false, errors: new Map()}
  const dir = await mkdtemp(path.join(os.tmpdir(), 'poc-promtool-'))
  try {
    const file = path.join(dir, 'panels.yml')
    const rules = exprs.map((expr, i) => ({record: `panel_query_${i}`, expr}))
    await writeFile(file, stringify({groups: [{name: 'panels', rules}]}))
    const [result, version] = await Promise.all([
      execa(binary, ['check', 'rules', file], {reject: false, all: true}),
      execa(binary, ['--version'], {reject: false, all: true}),
    ])
    const errors = new Map<number, string>()
    for (const [, index, message] of (result.all ?? '').matchAll(
      /"panel_query_(\d+)": (?:could not parse expression: )?(.+)$/gm,
    ))
      errors.set(Number(index), (message as string).trim())
    if (result.exitCode !== 0 && errors.size === 0)
      throw new Error(`promtool check rules failed: ${result.all}`)
    return {ran: true, version: /promtool, version (\S+)/.exec(version.all ?? '')?.[1] ?? 'promtool', errors}
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}
