import {mkdir, readFile, readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {parse as parseYaml} from 'yaml'
import {type MetricFamily, serviceMetricFamilies} from '../../services/metric-families.js'
import {type ComponentName, getComponent} from '../../stack/catalog.js'
import {componentContext} from '../../stack/context.js'
import {errorMessage} from '../../stack/errors.js'
import type {PocHome} from '../../stack/home.js'
import {metricsEndpoint} from '../../stack/prometheus-config.js'

/**
 * The metric names a dashboard may query, and who exports each: our services from their real
 * registries (built in-process), RabbitMQ and Prometheus from what a scrape of the real servers
 * recorded in fixtures/prometheus/exporters (they cannot be built in-process), Prometheus'
 * own per-target series, and the series our recording rules create.
 */

export interface KnownMetrics {
  /** Metric name → the components (or rule files) that export it. */
  exporters: Map<string, string[]>
  /** One line per source, for the check's note. */
  sources: string[]
}

/** A scrape of a third-party component, as recordExporterMetrics writes it. */
export interface ExporterRecord {
  component: ComponentName
  version: string
  endpoint: string
  recordedAt: string
  metrics: string[]
}

/**
 * Series Prometheus writes for every target and every alerting rule, which no /metrics shows:
 * https://prometheus.io/docs/concepts/jobs_instances/#automatically-generated-labels-and-time-series
 */
const prometheusSynthetic = [
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
  'ALERTS',
  'ALERTS_FOR_STATE',
]

export const exportersDirName = path.join('prometheus', 'exporters')

/** The names a family's samples carry: a histogram's _bucket/_sum/_count, a summary's quantiles, _sum and _count. */
export function seriesNames(family: Pick<MetricFamily, 'name' | 'type'>): string[] {
  if (family.type === 'histogram') return ['_bucket', '_sum', '_count'].map((s) => family.name + s)
  if (family.type === 'summary') return [family.name, family.name + '_sum', family.name + '_count']
  return [family.name]
}

/** Every series name in Prometheus' text exposition: the samples, and the families declared without any. */
export function metricNamesInExposition(text: string): string[] {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line)
    if (type) {
      for (const name of seriesNames({name: type[1] as string, type: type[2] as string})) names.add(name)
      continue
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)
    if (sample) names.add(sample[1] as string)
  }
  return [...names].sort()
}

export async function knownMetrics(fixturesDir: string): Promise<KnownMetrics> {
  const exporters = new Map<string, string[]>()
  const add = (name: string, by: string) => {
    const list = exporters.get(name) ?? []
    if (!list.includes(by)) list.push(by)
    exporters.set(name, list)
  }
  const sources: string[] = []
  const services = await serviceMetricFamilies()
  for (const [service, families] of services) {
    for (const family of families) for (const name of seriesNames(family)) add(name, service)
  }
  sources.push(`${services.size} services from their registries (built in-process)`)
  for (const record of await readExporterRecords(fixturesDir)) {
    for (const name of record.metrics) add(name, record.component)
    sources.push(
      `${record.component} ${record.version} as scraped at ${record.endpoint} on ${record.recordedAt.slice(0, 10)}`,
    )
  }
  for (const name of prometheusSynthetic) add(name, 'prometheus')
  for (const [file, names] of await recordedRuleNames(fixturesDir)) for (const name of names) add(name, file)
  return {exporters, sources}
}

export async function readExporterRecords(fixturesDir: string): Promise<ExporterRecord[]> {
  const dir = path.join(fixturesDir, exportersDirName)
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.json')).sort()
  const records: ExporterRecord[] = []
  for (const file of files) {
    try {
      records.push(JSON.parse(await readFile(path.join(dir, file), 'utf8')) as ExporterRecord)
    } catch (error) {
      throw new Error(`${path.join(dir, file)} is not a recorded scrape: ${errorMessage(error)}`, {
        cause: error,
      })
    }
  }
  return records
}

/** The `record:` names of the Prometheus rules we ship, by rules file. */
async function recordedRuleNames(fixturesDir: string): Promise<Map<string, string[]>> {
  const dir = path.join(fixturesDir, 'prometheus', 'rules')
  const out = new Map<string, string[]>()
  for (const file of (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.yml')).sort()) {
    const doc = parseYaml(await readFile(path.join(dir, file), 'utf8')) as {
      groups?: Array<{rules?: Array<{record?: string}>}>
    } | null
    const names = (doc?.groups ?? []).flatMap((g) =>
      (g.rules ?? []).flatMap((r) => (r.record ? [r.record] : [])),
    )
    out.set(`rules/${file}`, names)
  }
  return out
}

/** Third-party components whose metrics are recorded rather than built. */
export const recordedExporters: ComponentName[] = ['rabbitmq', 'prometheus']

/**
 * Scrapes the running RabbitMQ and Prometheus of the stack in `home` and writes what they
 * export to fixtures/prometheus/exporters (npm run record:exporter-metrics).
 */
export async function recordExporterMetrics(
  home: PocHome,
  portOffset: number,
  fixturesDir: string,
): Promise<ExporterRecord[]> {
  const records: ExporterRecord[] = []
  await mkdir(path.join(fixturesDir, exportersDirName), {recursive: true})
  for (const component of recordedExporters) {
    const endpoint = metricsEndpoint(getComponent(component))
    if (!endpoint) continue
    const ctx = componentContext(component, home, portOffset)
    const url = `http://${ctx.host}:${ctx.ports[endpoint.port]}${endpoint.path}`
    const answer = await fetch(url, {signal: AbortSignal.timeout(10_000)})
    if (!answer.ok) throw new Error(`GET ${url} answered ${answer.status}`)
    const text = await answer.text()
    const record: ExporterRecord = {
      component,
      version: versionIn(text) ?? 'unknown',
      endpoint: endpoint.path,
      recordedAt: new Date().toISOString(),
      metrics: metricNamesInExposition(text),
    }
    await writeFile(
      path.join(fixturesDir, exportersDirName, `${component}.json`),
      `${JSON.stringify(record, null, 2)}\n`,
    )
    records.push(record)
  }
  return records
}

/** The version label of the scrape's *_build_info series, when it has one. */
function versionIn(text: string): string | undefined {
  return /^\w*_build_info\{[^}]*\b(?:rabbitmq_)?version="([^"]+)"/m.exec(text)?.[1]
}
