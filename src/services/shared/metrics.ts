import {Counter, Histogram, Registry, collectDefaultMetrics} from 'prom-client'

/**
 * One registry per service rather than prom-client's global one, so that tests (and anything
 * else running two services in one process) never see each other's series or name clashes.
 * The `service` label lets one Prometheus job scrape every service and still tell them apart.
 */
export function createRegistry(service: string): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({service})
  collectDefaultMetrics({register: registry, prefix: 'poc_'})
  return registry
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
