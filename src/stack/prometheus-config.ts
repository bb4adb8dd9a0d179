import {copyFile, mkdir, readdir, rm, writeFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import path from 'node:path'
import {packageRoot} from '../lib/package-root.js'
import type {ComponentName, ComponentSpec} from './catalog.js'

/**
 * Prometheus' configuration, generated from the component catalog so that a port offset or a
 * new service never needs a hand edit. The native runtime writes it into Prometheus' data dir;
 * a container runtime calls the same functions with its own target addresses.
 */

/** Where a component serves its metrics: a port name of its catalog entry and a path. */
export interface MetricsEndpoint {
  port: string
  path: string
}

/**
 * What Prometheus scrapes: our services' /metrics, RabbitMQ's rabbitmq_prometheus plugin and
 * Prometheus itself. RabbitMQ's per-object endpoint, because its default one aggregates every
 * queue into one series and the dashboards need the depth and consumers of each queue.
 */
export function metricsEndpoint(spec: ComponentSpec): MetricsEndpoint | undefined {
  if (spec.kind === 'service') return {port: 'http', path: '/metrics'}
  if (spec.name === 'rabbitmq') return {port: 'prometheus', path: '/metrics/per-object'}
  if (spec.name === 'prometheus') return {port: 'http', path: '/metrics'}
  return undefined
}

export interface ScrapeTarget {
  /** The job label: the component's name, which the dashboards and rules select on. */
  job: ComponentName
  /** host:port as Prometheus reaches it. */
  address: string
  metricsPath: string
}

/** Seconds between scrapes, and between rule evaluations. */
export const scrapeIntervalSeconds = 5

/** The rules Prometheus loads, shipped in fixtures/prometheus/rules and copied beside the config. */
export const rulesSourceDir = path.join(packageRoot, 'fixtures', 'prometheus', 'rules')
export const rulesDirName = 'rules'

/**
 * One target per catalog component that exports metrics. `address` resolves a component's
 * port for whoever runs Prometheus (loopback natively, a container name under an engine).
 */
export function scrapeTargets(
  catalog: readonly ComponentSpec[],
  address: (name: ComponentName, port: string) => string,
): ScrapeTarget[] {
  return catalog.flatMap((spec) => {
    const endpoint = metricsEndpoint(spec)
    return endpoint
      ? [{job: spec.name, address: address(spec.name, endpoint.port), metricsPath: endpoint.path}]
      : []
  })
}

export function prometheusConfig(targets: ScrapeTarget[]): string {
  const config = {
    global: {
      scrape_interval: `${scrapeIntervalSeconds}s`,
      evaluation_interval: `${scrapeIntervalSeconds}s`,
    },
    rule_files: [`${rulesDirName}/*.yml`],
    scrape_configs: targets.map((t) => ({
      job_name: t.job,
      ...(t.metricsPath === '/metrics' ? {} : {metrics_path: t.metricsPath}),
      static_configs: [{targets: [t.address]}],
    })),
  }
  // yaml is required here, not imported at the top: the catalog imports this module, so every
  // command would otherwise load yaml's 70 files to write a file only `poc up --with observability` needs.
  const {stringify} = createRequire(import.meta.url)('yaml') as typeof import('yaml')
  return stringify(config, {lineWidth: 0})
}

/** prometheus.yml and its rules directory in `dir`; answers the config file's path. */
export async function writePrometheusFiles(dir: string, targets: ScrapeTarget[]): Promise<string> {
  const rulesDir = path.join(dir, rulesDirName)
  // Anew each time: a rules file removed from fixtures must not linger in a stack's copy.
  await rm(rulesDir, {recursive: true, force: true})
  await mkdir(rulesDir, {recursive: true})
  for (const file of await readdir(rulesSourceDir)) {
    if (file.endsWith('.yml')) await copyFile(path.join(rulesSourceDir, file), path.join(rulesDir, file))
  }
  const configFile = path.join(dir, 'prometheus.yml')
  await writeFile(configFile, prometheusConfig(targets))
  return configFile
}

/**
 * Readiness of a stack's Prometheus (GET /api/v1/targets): why it is not ready yet, or undefined
 * once every target has been scraped successfully, so that `poc up` returns with every target
 * healthy and a first sample of every series before any traffic.
 */
export function targetsNotUp(json: unknown): string | undefined {
  const targets =
    (json as {data?: {activeTargets?: Array<{labels?: {job?: string}; health?: string; lastError?: string}>}})
      ?.data?.activeTargets ?? []
  if (targets.length === 0) return 'no scrape target yet'
  const waiting = targets.filter((t) => t.health !== 'up')
  if (waiting.length === 0) return undefined
  return `targets not up yet: ${waiting.map((t) => `${t.labels?.job ?? '?'} (${t.health}${t.lastError ? `: ${t.lastError}` : ''})`).join(', ')}`
}
