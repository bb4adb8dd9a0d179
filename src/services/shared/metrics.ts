import {Counter, Gauge, Histogram, type Metric, Registry, collectDefaultMetrics} from 'prom-client'
import type {BusStatus} from './bus.js'

/**
 * One registry per service rather than prom-client's global one, so that tests (and anything
 * else running two services in one process) never see each other's series or name clashes.
 * The `service` label lets one Prometheus job scrape every service and still tell them apart.
 */
export function createRegistry(service: string): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({service})
  collectDefaultMetrics({register: registry, prefix: 'poc_'})
  // Gauges named like counters (promtool check metrics refuses them); each is the sum of the
  // per-type gauge of the same name without `_total`, which stays.
  for (const name of ['handles', 'requests', 'resources'])
    registry.removeSingleMetric(`poc_nodejs_active_${name}_total`)
  return registry
}

/**
 * A counter whose value is read at scrape time from something that counts already (the outbox's
 * tallies): typed `counter`, so rate() and promtool treat it as one.
 */
export function counterOf(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset()
      this.inc(read())
    },
  })
}

/**
 * A Prometheus histogram whose buckets are filled at scrape time from a distribution kept
 * elsewhere (the gateway's HDR histograms), so recording a value costs nothing extra.
 * `read` answers cumulative counts aligned with `buckets`, their sum and count, in the
 * histogram's unit.
 */
export function derivedHistogram(
  registry: Registry,
  name: string,
  help: string,
  buckets: readonly number[],
  read: () => {counts: readonly number[]; sum: number; count: number},
): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    labelNames: [],
    aggregator: 'sum',
    reset() {},
    async get() {
      const {counts, sum, count} = read()
      return {
        name,
        help,
        type: 'histogram',
        aggregator: 'sum',
        values: [
          ...buckets.map((le, i) => ({
            metricName: `${name}_bucket`,
            labels: {le},
            value: counts[i] ?? 0,
          })),
          {metricName: `${name}_bucket`, labels: {le: '+Inf'}, value: count},
          {metricName: `${name}_sum`, labels: {}, value: sum},
          {metricName: `${name}_count`, labels: {}, value: count},
        ],
      }
    },
  }
  registry.registerMetric(metric as unknown as Metric)
}

export function counter<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Counter<L> {
  return new Counter({name, help, labelNames, registers: [registry]})
}

export interface HistogramOptions<L extends string> {
  labelNames?: readonly L[]
  /** Upper bounds in the metric's unit; prom-client's defaults suit seconds-scale HTTP latencies. */
  buckets?: number[]
}

export function histogram<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  {labelNames = [], buckets}: HistogramOptions<L> = {},
): Histogram<L> {
  return new Histogram({name, help, labelNames, registers: [registry], ...(buckets ? {buckets} : {})})
}

/** What every service's HTTP server records per answer (labels: the route pattern, never the URL). */
export function httpMetrics(registry: Registry) {
  return {
    requests: counter(registry, 'poc_http_requests_total', 'HTTP requests answered', [
      'method',
      'route',
      'status',
    ]),
    durations: histogram(registry, 'poc_http_request_duration_seconds', 'HTTP request duration', {
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    }),
  }
}

/**
 * The bus as Prometheus sees it, read at scrape time: an outbox that only grows means events
 * accepted and not reaching RabbitMQ (the SLO rule PocOutboxBacklogGrowing watches it).
 */
export function busMetrics(registry: Registry, status: () => BusStatus): void {
  new Gauge({
    name: 'poc_bus_outbox_depth',
    help: 'events accepted into the outbox and not yet confirmed by RabbitMQ',
    registers: [registry],
    collect() {
      this.set(status().outboxDepth)
    },
  })
  new Gauge({
    name: 'poc_bus_connected',
    help: '1 while the bus holds a confirmed publisher channel to RabbitMQ',
    registers: [registry],
    collect() {
      this.set(status().connected ? 1 : 0)
    },
  })
}
