import {readFile, readdir} from 'node:fs/promises'
import path from 'node:path'
import {parse as parseYaml} from 'yaml'
import {z} from 'zod'
import {errorMessage} from '../../stack/errors.js'
import {packageRoot} from '../../lib/package-root.js'
import type {CheckFailure} from './model.js'

/**
 * The files `poc grafana check` reads, from a fixtures directory laid out as the one poc ships:
 * grafana/manifest.json, grafana/dashboards/*.json, grafana/provisioning/{datasources,
 * dashboards,alerting}/*.yaml, promtail/promtail-config.yaml, prometheus/{rules,exporters}.
 */

export const shippedFixtures = path.join(packageRoot, 'fixtures')

export const manifestSchema = z.object({
  dashboards: z.array(z.object({title: z.string().min(1), uid: z.string().min(1), file: z.string().min(1)})),
})
export type ManifestEntry = z.infer<typeof manifestSchema>['dashboards'][number]

export interface DatasourceRef {
  uid?: string
  type?: string
  /** A datasource named by its name (the pre-uid form). */
  name?: string
}

export interface Datasource {
  name: string
  type: string
  uid: string
  isDefault?: boolean
  jsonData?: {timeInterval?: string}
}

export interface PanelQuery {
  refId: string
  /** PromQL or LogQL, as written in the dashboard. */
  expr: string
  datasource?: DatasourceRef
}

export interface Panel {
  id?: number
  title: string
  type: string
  datasource?: DatasourceRef
  queries: PanelQuery[]
}

export interface Dashboard {
  /** Relative to the grafana directory, as the manifest names it. */
  file: string
  title?: string
  uid?: string
  panels: Panel[]
  /** The dashboard's own template variables with their current value. */
  variables: Record<string, string>
}

export interface AlertRule {
  uid?: string
  title?: string
  folder?: string
  group?: string
  condition?: string
  for?: string
  labels?: Record<string, string>
  data: Array<{refId?: string; datasourceUid?: string; model?: {expr?: string; refId?: string}}>
  file: string
}

/** What a Promtail job sets: the `job` value (when static) and every label name it can attach. */
export interface PromtailJob {
  name: string
  job?: string
  labels: Set<string>
}

export interface Fixtures {
  dir: string
  manifest?: ManifestEntry[]
  /** Every readable dashboard file in grafana/dashboards, by its manifest-relative path. */
  dashboards: Map<string, Dashboard>
  datasources: Datasource[]
  dashboardProviders: Array<{name?: string; folder?: string; path?: string}>
  alertRules: AlertRule[]
  promtailJobs: PromtailJob[]
  /** Files that could not be read or parsed, as failures of the check they belong to. */
  problems: {
    manifest: CheckFailure[]
    dashboards: CheckFailure[]
    provisioning: CheckFailure[]
    promtail: CheckFailure[]
  }
}

async function listFiles(dir: string, extensions: string[]): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[])
  return names.filter((n) => extensions.some((e) => n.endsWith(e))).sort()
}

async function readYamlFiles(
  dir: string,
  problems: CheckFailure[],
): Promise<Array<{file: string; doc: unknown}>> {
  const out: Array<{file: string; doc: unknown}> = []
  for (const name of await listFiles(dir, ['.yaml', '.yml'])) {
    const file = path.join(dir, name)
    try {
      out.push({file, doc: parseYaml(await readFile(file, 'utf8'))})
    } catch (error) {
      problems.push({subject: file, message: `is not valid YAML: ${errorMessage(error)}`})
    }
  }
  return out
}

function asRef(value: unknown): DatasourceRef | undefined {
  if (value === null || value === undefined) return undefined
  if (typeof value === 'string') return {name: value}
  if (typeof value === 'object') {
    const {uid, type} = value as {uid?: unknown; type?: unknown}
    return {
      ...(typeof uid === 'string' ? {uid} : {}),
      ...(typeof type === 'string' ? {type} : {}),
    }
  }
  return undefined
}

/** Panels in order, those inside collapsed rows included. */
function flattenPanels(list: unknown): Panel[] {
  const out: Panel[] = []
  for (const raw of Array.isArray(list) ? list : []) {
    const p = raw as {
      id?: unknown
      title?: unknown
      type?: unknown
      datasource?: unknown
      targets?: unknown
      panels?: unknown
    }
    const queries = (Array.isArray(p.targets) ? p.targets : []).flatMap((t: unknown) => {
      const target = t as {refId?: unknown; expr?: unknown; datasource?: unknown; hide?: unknown}
      if (typeof target.expr !== 'string' || target.hide === true) return []
      const datasource = asRef(target.datasource)
      return [{refId: String(target.refId ?? '?'), expr: target.expr, ...(datasource ? {datasource} : {})}]
    })
    const datasource = asRef(p.datasource)
    out.push({
      ...(typeof p.id === 'number' ? {id: p.id} : {}),
      title: typeof p.title === 'string' ? p.title : '',
      type: typeof p.type === 'string' ? p.type : '',
      ...(datasource ? {datasource} : {}),
      queries,
    })
    out.push(...flattenPanels(p.panels))
  }
  return out
}

function dashboardVariables(json: {templating?: {list?: unknown}}): Record<string, string> {
  const out: Record<string, string> = {}
  for (const raw of Array.isArray(json.templating?.list) ? json.templating.list : []) {
    const v = raw as {name?: unknown; current?: {value?: unknown}; query?: unknown}
    if (typeof v.name !== 'string') continue
    const value = v.current?.value ?? v.query
    if (typeof value === 'string') out[v.name] = value
    else if (Array.isArray(value) && value.length > 0) out[v.name] = value.map(String).join('|')
  }
  return out
}

function promtailJobs(doc: unknown): PromtailJob[] {
  const configs = ((doc as {scrape_configs?: unknown})?.scrape_configs ?? []) as Array<{
    job_name?: string
    static_configs?: Array<{labels?: Record<string, string>}>
    pipeline_stages?: Array<Record<string, unknown>>
  }>
  return configs.map((c) => {
    // Promtail attaches the file it read as `filename` to every line.
    const labels = new Set<string>(['filename'])
    let job: string | undefined
    for (const s of c.static_configs ?? []) {
      for (const [name, value] of Object.entries(s.labels ?? {})) {
        if (name.startsWith('__')) continue
        labels.add(name)
        if (name === 'job') job = value
      }
    }
    for (const stage of c.pipeline_stages ?? []) {
      for (const key of ['labels', 'static_labels']) {
        const set = stage[key]
        if (set && typeof set === 'object') for (const name of Object.keys(set)) labels.add(name)
      }
    }
    return {name: c.job_name ?? '?', ...(job === undefined ? {} : {job}), labels}
  })
}

export async function loadFixtures(dir: string): Promise<Fixtures> {
  const grafana = path.join(dir, 'grafana')
  const problems: Fixtures['problems'] = {manifest: [], dashboards: [], provisioning: [], promtail: []}
  const fixtures: Fixtures = {
    dir,
    dashboards: new Map(),
    datasources: [],
    dashboardProviders: [],
    alertRules: [],
    promtailJobs: [],
    problems,
  }

  const manifestFile = path.join(grafana, 'manifest.json')
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(await readFile(manifestFile, 'utf8')))
    if (parsed.success) fixtures.manifest = parsed.data.dashboards
    else
      problems.manifest.push({
        subject: manifestFile,
        message: `is not {dashboards: [{title, uid, file}]}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      })
  } catch (error) {
    problems.manifest.push({subject: manifestFile, message: `cannot be read as JSON: ${errorMessage(error)}`})
  }

  for (const name of await listFiles(path.join(grafana, 'dashboards'), ['.json'])) {
    const file = `dashboards/${name}`
    try {
      const json = JSON.parse(await readFile(path.join(grafana, file), 'utf8')) as {
        title?: unknown
        uid?: unknown
        panels?: unknown
        templating?: {list?: unknown}
      }
      fixtures.dashboards.set(file, {
        file,
        ...(typeof json.title === 'string' ? {title: json.title} : {}),
        ...(typeof json.uid === 'string' ? {uid: json.uid} : {}),
        panels: flattenPanels(json.panels),
        variables: dashboardVariables(json),
      })
    } catch (error) {
      problems.dashboards.push({subject: file, message: `is not valid JSON: ${errorMessage(error)}`})
    }
  }

  const provisioning = path.join(grafana, 'provisioning')
  for (const {doc} of await readYamlFiles(path.join(provisioning, 'datasources'), problems.provisioning)) {
    for (const ds of ((doc as {datasources?: unknown[]})?.datasources ?? []) as Datasource[])
      fixtures.datasources.push(ds)
  }
  for (const {doc} of await readYamlFiles(path.join(provisioning, 'dashboards'), problems.provisioning)) {
    for (const p of ((doc as {providers?: unknown[]})?.providers ?? []) as Array<{
      name?: string
      folder?: string
      options?: {path?: string}
    }>)
      fixtures.dashboardProviders.push({
        ...(p.name ? {name: p.name} : {}),
        ...(p.folder ? {folder: p.folder} : {}),
        ...(p.options?.path ? {path: p.options.path} : {}),
      })
  }
  for (const {file, doc} of await readYamlFiles(path.join(provisioning, 'alerting'), problems.provisioning)) {
    for (const g of ((doc as {groups?: unknown[]})?.groups ?? []) as Array<{
      name?: string
      folder?: string
      rules?: Array<Omit<AlertRule, 'folder' | 'group' | 'file'>>
    }>) {
      for (const r of g.rules ?? [])
        fixtures.alertRules.push({...r, data: r.data ?? [], folder: g.folder, group: g.name, file})
    }
  }

  const promtailFile = path.join(dir, 'promtail', 'promtail-config.yaml')
  try {
    fixtures.promtailJobs = promtailJobs(parseYaml(await readFile(promtailFile, 'utf8')))
    if (fixtures.promtailJobs.length === 0)
      problems.promtail.push({subject: promtailFile, message: 'has no scrape_configs: no log reaches Loki'})
  } catch (error) {
    problems.promtail.push({subject: promtailFile, message: `cannot be read: ${errorMessage(error)}`})
  }
  return fixtures
}

/** How a failure names a dashboard, a panel and a query. */
export function panelSubject(dashboard: Dashboard, panel?: Panel, query?: PanelQuery): string {
  const d = `${dashboard.title ?? dashboard.file} (${dashboard.uid ?? dashboard.file})`
  if (!panel) return d
  const p = `panel ${panel.id ?? '?'} "${panel.title}"`
  return query ? `${d} › ${p} › query ${query.refId}` : `${d} › ${p}`
}
