import type {Registry} from 'prom-client'
import type {ComponentName} from '../stack/catalog.js'
import {creditMetrics} from './credit/metrics.js'
import {gatewayMetrics} from './gateway/metrics.js'
import {invoiceWorkerMetrics} from './invoice-worker/metrics.js'
import {busMetrics, createRegistry, httpMetrics} from './shared/metrics.js'
import {uiMetrics} from './ui/metrics.js'

/** A metric family as a registry declares it: what `# TYPE` says at GET /metrics. */
export interface MetricFamily {
  name: string
  type: string
  help: string
}

const idleBus = () => ({connected: false, outboxDepth: 0, consumers: [], consumersActive: true})

/** A service on startServiceBase: the HTTP server's and the bus's series, and its own. */
function busService(own?: (registry: Registry) => unknown) {
  return (registry: Registry) => {
    httpMetrics(registry)
    busMetrics(registry, idleBus)
    own?.(registry)
  }
}

/**
 * How each service fills its registry, with the very functions its main calls, so that what a
 * dashboard may query is derived from the code and never from a hand-kept list.
 * test/integration/grafana.test.ts scrapes every running service and holds it to this.
 */
const registrations: Partial<Record<ComponentName, (registry: Registry) => unknown>> = {
  pm: busService(),
  fi: busService(),
  sales: busService(),
  credit: busService(creditMetrics),
  contract: busService(),
  'invoice-worker': busService(invoiceWorkerMetrics),
  gateway: (registry) => {
    httpMetrics(registry)
    gatewayMetrics(registry, {
      queueLen: () => 0,
      inflight: () => 0,
      walAgeMs: () => 0,
      orders: () => 0,
      sseClients: () => 0,
      sseDropped: () => 0,
      outbox: () => undefined,
      inflightLimit: () => 0,
      durableCommitRate: () => 0,
      softRejectRate: () => 0,
    })
  },
  ui: (registry) => {
    httpMetrics(registry)
    uiMetrics(registry)
  },
}

let built: Promise<Map<ComponentName, MetricFamily[]>> | undefined

/**
 * The metric families each of our services exports, built in-process from its registry — once
 * per process: a registry's default metrics keep event-loop and GC observers alive, which a
 * `poc smoke --loop` must not pile up run after run.
 */
export function serviceMetricFamilies(): Promise<Map<ComponentName, MetricFamily[]>> {
  built ??= buildFamilies()
  return built
}

/** The services with a /metrics of their own. */
export const servicesWithMetrics = Object.keys(registrations) as ComponentName[]

/** A registry filled as the service's main fills it (idle values), e.g. to lint its exposition. */
export function serviceRegistry(name: ComponentName): Registry {
  const register = registrations[name]
  if (!register) throw new Error(`${name} has no metrics registry`)
  const registry = createRegistry(name)
  register(registry)
  return registry
}

async function buildFamilies(): Promise<Map<ComponentName, MetricFamily[]>> {
  const families = new Map<ComponentName, MetricFamily[]>()
  for (const name of servicesWithMetrics) {
    const registry = serviceRegistry(name)
    const declared = await registry.getMetricsAsJSON()
    families.set(
      name,
      declared.map((m) => ({name: m.name, type: String(m.type), help: m.help})),
    )
  }
  return families
}
