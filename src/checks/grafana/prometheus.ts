import {readFile, readdir} from 'node:fs/promises'
import path from 'node:path'
import {parse as parseYaml} from 'yaml'
import type {Fixtures} from './fixtures.js'
import {type JsonAnswer, Unreachable, getJson} from './http.js'
import {type CheckFailure, type CheckOutcome, outcome} from './model.js'
import type {ResolvedQuery} from './offline.js'
import type {IntervalValues} from './queries.js'
import {substituteVariables} from './queries.js'

/**
 * The checks against a live Prometheus, over its HTTP API (v1): its targets are healthy, our
 * rules are loaded and evaluate, and every metrics panel's query returns series over the last
 * minutes — the "No data" panel a user would otherwise open.
 */

interface PrometheusEnvelope<T> {
  status: 'success' | 'error'
  data?: T
  error?: string
  errorType?: string
}

interface RangeSeries {
  metric: Record<string, string>
  values: Array<[number, string]>
}

export interface PrometheusReport {
  version?: string
  checks: CheckOutcome[]
  queriedPanels: number
  panelsWithData: number
}

async function api<T>(
  base: string,
  route: string,
  signal?: AbortSignal,
): Promise<{answer: JsonAnswer; body: PrometheusEnvelope<T>}> {
  const answer = await getJson(`${base}${route}`, {signal})
  const body = (answer.json ?? {status: 'error', error: answer.text.slice(0, 200)}) as PrometheusEnvelope<T>
  return {answer, body}
}

export async function prometheusChecks(
  baseUrl: string,
  fixtures: Fixtures,
  queries: ResolvedQuery[],
  options: {intervals: IntervalValues; windowMs: number; stepMs: number; signal?: AbortSignal},
): Promise<PrometheusReport> {
  const base = baseUrl.replace(/\/+$/, '')
  const build = await api<{version: string}>(base, '/api/v1/status/buildinfo', options.signal)
  if (build.body.status !== 'success')
    throw new Unreachable(
      base,
      `${base} does not answer as Prometheus (GET /api/v1/status/buildinfo: ${build.answer.status})`,
    )
  const version = build.body.data?.version
  const checks = [await targetsCheck(base, options.signal), await rulesCheck(base, fixtures, options.signal)]

  const end = Date.now() / 1000
  const start = end - options.windowMs / 1000
  const failures: CheckFailure[] = []
  const panels = new Map<string, boolean>()
  const metricsQueries = queries.filter((q) => q.datasource?.type === 'prometheus')
  for (const q of metricsQueries) {
    const panelKey = `${q.dashboard.file}#${q.panel.id}`
    const {query: expr} = substituteVariables(q.query.expr, options.intervals, q.dashboard.variables)
    const params = new URLSearchParams({
      query: expr,
      start: String(start),
      end: String(end),
      step: `${options.stepMs / 1000}s`,
    })
    const {answer, body} = await api<{resultType: string; result: RangeSeries[]}>(
      base,
      `/api/v1/query_range?${params}`,
      options.signal,
    )
    let problem: string | undefined
    if (body.status !== 'success') {
      problem = `Prometheus refused the query (${answer.status} ${body.errorType ?? ''}): ${body.error ?? answer.text.slice(0, 200)}`
    } else {
      const series = body.data?.result ?? []
      const windowText = `the last ${Math.round(options.windowMs / 60_000)} min`
      if (series.length === 0) problem = `No data: ${expr} returned no series over ${windowText}`
      else if (series.every((s) => s.values.every(([, v]) => v === 'NaN')))
        problem = `No data: ${expr} returned only NaN over ${windowText} (nothing happened in its rate window)`
    }
    if (problem) failures.push({subject: q.subject, message: problem})
    panels.set(panelKey, (panels.get(panelKey) ?? true) && problem === undefined)
  }
  checks.push(
    outcome(
      'prometheus',
      'panels-have-data',
      'every metrics panel returns data',
      metricsQueries.length,
      failures,
      `${panels.size} panels, ${metricsQueries.length} queries over the last ${Math.round(options.windowMs / 60_000)} min, step ${options.stepMs / 1000}s`,
    ),
  )
  return {
    ...(version ? {version} : {}),
    checks,
    queriedPanels: panels.size,
    panelsWithData: [...panels.values()].filter(Boolean).length,
  }
}

async function targetsCheck(base: string, signal?: AbortSignal): Promise<CheckOutcome> {
  const {body} = await api<{
    activeTargets: Array<{
      labels: Record<string, string>
      health: string
      lastError: string
      scrapeUrl: string
    }>
  }>(base, '/api/v1/targets?state=active', signal)
  const targets = body.data?.activeTargets ?? []
  const failures = targets
    .filter((t) => t.health !== 'up')
    .map((t) => ({
      subject: `target ${t.labels.job ?? '?'} (${t.scrapeUrl})`,
      message: `is ${t.health}${t.lastError ? `: ${t.lastError}` : ' (not scraped yet)'}; its panels show no data`,
    }))
  if (targets.length === 0) failures.push({subject: base, message: 'scrapes no target at all'})
  const jobs = [...new Set(targets.map((t) => t.labels.job))].sort()
  return outcome(
    'prometheus',
    'targets',
    'every scrape target is up',
    targets.length,
    failures,
    `jobs: ${jobs.join(', ')}`,
  )
}

/** Our rule groups (fixtures/prometheus/rules) are loaded, and none fails to evaluate. */
async function rulesCheck(base: string, fixtures: Fixtures, signal?: AbortSignal): Promise<CheckOutcome> {
  const expected = await shippedRuleGroups(fixtures.dir)
  const {body} = await api<{
    groups: Array<{name: string; rules: Array<{name: string; health: string; lastError?: string}>}>
  }>(base, '/api/v1/rules', signal)
  const loaded = new Map((body.data?.groups ?? []).map((g) => [g.name, g]))
  const failures: CheckFailure[] = []
  let checked = 0
  for (const [name, rules] of expected) {
    const group = loaded.get(name)
    if (!group) {
      failures.push({
        subject: `rule group ${name}`,
        message: 'is not loaded: is this Prometheus configured by poc (rule_files: rules/*.yml)?',
      })
      continue
    }
    for (const rule of rules) {
      checked++
      const live = group.rules.find((r) => r.name === rule)
      if (!live) failures.push({subject: `rule ${rule} (${name})`, message: 'is not loaded'})
      else if (live.health === 'err')
        failures.push({
          subject: `rule ${rule} (${name})`,
          message: `fails to evaluate: ${live.lastError ?? ''}`,
        })
    }
  }
  return outcome(
    'prometheus',
    'rules',
    'the SLO recording and alerting rules are loaded and evaluate',
    checked,
    failures,
  )
}

async function shippedRuleGroups(fixturesDir: string): Promise<Map<string, string[]>> {
  const dir = path.join(fixturesDir, 'prometheus', 'rules')
  const groups = new Map<string, string[]>()
  for (const file of (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.yml'))) {
    const doc = parseYaml(await readFile(path.join(dir, file), 'utf8')) as {
      groups?: Array<{name: string; rules?: Array<{record?: string; alert?: string}>}>
    } | null
    for (const g of doc?.groups ?? [])
      groups.set(
        g.name,
        (g.rules ?? []).map((r) => r.record ?? r.alert ?? '?'),
      )
  }
  return groups
}

/**
 * Which targets Prometheus has not yet scraped successfully since `sinceMs` (epoch ms): empty
 * once what happened before `sinceMs` (a smoke run's traffic, a restart) is in its data.
 */
export async function targetsNotScrapedSince(
  baseUrl: string,
  sinceMs: number,
  signal?: AbortSignal,
): Promise<string[]> {
  const {body} = await api<{
    activeTargets: Array<{labels: Record<string, string>; health: string; lastScrape: string}>
  }>(baseUrl.replace(/\/+$/, ''), '/api/v1/targets?state=active', signal)
  return (body.data?.activeTargets ?? [])
    .filter((t) => t.health !== 'up' || Date.parse(t.lastScrape) < sinceMs)
    .map((t) => `${t.labels.job ?? '?'} (${t.health}, last scraped ${t.lastScrape})`)
}
