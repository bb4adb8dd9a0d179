import {Counter, Gauge, type Registry} from 'prom-client'
import {LatencyHistogram} from './latency.js'
import type {WalOutboxStatus} from './outbox.js'

/** The latencies of SPEC §4.5 / seed 004, each exported as `gateway_<name>_p50_us/_p99_us/_p999_us`. */
export const latencyNames = [
  'ack',
  'wal_enqueue',
  'durable_ack',
  'fdatasync',
  'fast_path_processing',
] as const
export type LatencyName = (typeof latencyNames)[number]

/** Reasons a request is refused under load, each with the seed's counter. */
export const backpressureReasons = {
  BACKPRESSURE_INFLIGHT: 'gateway_backpressure_inflight_total',
  BACKPRESSURE_WAL_BYTES: 'gateway_backpressure_wal_bytes_total',
  BACKPRESSURE_WAL_AGE: 'gateway_backpressure_wal_age_total',
  BACKPRESSURE_SOFT_WAL_AGE: 'gateway_backpressure_soft_wal_age_total',
  BACKPRESSURE_DISK_FREE: 'gateway_backpressure_disk_free_total',
} as const
export type BackpressureReason = keyof typeof backpressureReasons

/** Live values read at scrape time. */
export interface GatewayGauges {
  queueLen(): number
  inflight(): number
  walAgeMs(): number
  orders(): number
  sseClients(): number
  sseDropped(): number
  /** Undefined until the gateway has opened. */
  outbox(): WalOutboxStatus | undefined
}

export interface GatewayMetrics {
  latency: Record<LatencyName, LatencyHistogram>
  accepted: Counter
  rejects: Counter<'reason'>
  backpressure: Record<BackpressureReason, Counter>
  idempotencyHits: Counter
  idempotencyMisses: Counter
  unauthorized: Counter<'reason'>
  orderRequests: Counter<'status'>
}

/**
 * The gateway's Prometheus series. Percentiles come from HDR histograms over the gateway's
 * life (since start or the last admin reset), computed at scrape time, never from samples.
 */
export function gatewayMetrics(registry: Registry, gauges: GatewayGauges): GatewayMetrics {
  const latency = Object.fromEntries(latencyNames.map((name) => [name, new LatencyHistogram()])) as Record<
    LatencyName,
    LatencyHistogram
  >
  for (const name of latencyNames) {
    for (const p of ['p50', 'p99', 'p999'] as const) {
      new Gauge({
        name: `gateway_${name}_${p}_us`,
        help: `${name.replaceAll('_', ' ')} latency ${p}, µs`,
        registers: [registry],
        collect() {
          this.set(latency[name].percentiles()[p])
        },
      })
    }
    new Gauge({
      name: `gateway_${name}_count`,
      help: `${name.replaceAll('_', ' ')} latencies recorded`,
      registers: [registry],
      collect() {
        this.set(latency[name].count)
      },
    })
  }
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read())
      },
    })
  gauge('gateway_queue_len', 'orders accepted and not yet processed by the drain', gauges.queueLen)
  gauge('gateway_inflight', 'orders accepted and not yet durable', gauges.inflight)
  gauge('gateway_durable_inflight', 'WAL records written and not yet fdatasynced', gauges.inflight)
  gauge('gateway_wal_age_ms', 'age of the oldest WAL record not yet durable', gauges.walAgeMs)
  gauge('gateway_orders', 'orders the gateway holds', gauges.orders)
  gauge('gateway_sse_clients', 'open event streams', gauges.sseClients)
  gauge(
    'gateway_sse_dropped_total',
    'event streams cut because the client stopped reading',
    gauges.sseDropped,
  )
  gauge(
    'gateway_outbox_lag_bytes',
    'durable WAL bytes not yet published',
    () => gauges.outbox()?.lagBytes ?? 0,
  )
  gauge(
    'gateway_outbox_backoff_current_ms',
    'current wait before the next publish attempt',
    () => gauges.outbox()?.backoffMs ?? 0,
  )
  gauge('gateway_outbox_seq', 'last WAL seq published and confirmed', () => gauges.outbox()?.seq ?? 0)
  gauge('gateway_outbox_connected', '1 while the outbox holds a broker connection', () =>
    gauges.outbox()?.connected ? 1 : 0,
  )
  gauge('gateway_outbox_events_read_total', 'WAL lines the outbox read', () => gauges.outbox()?.read ?? 0)
  gauge(
    'gateway_outbox_events_published_total',
    'events published and confirmed',
    () => gauges.outbox()?.published ?? 0,
  )
  gauge(
    'gateway_outbox_events_skipped_total',
    'WAL lines that are not announced',
    () => gauges.outbox()?.skipped ?? 0,
  )
  gauge('gateway_outbox_publish_errors_total', 'failed publish rounds', () => gauges.outbox()?.errors ?? 0)
  gauge(
    'gateway_outbox_offset_resets_total',
    'corrupt offset files set aside',
    () => gauges.outbox()?.offsetResets ?? 0,
  )

  const counter = (name: string, help: string) => new Counter({name, help, registers: [registry]})
  return {
    latency,
    accepted: counter('gateway_orders_accepted_total', 'orders accepted (202, not replays)'),
    rejects: new Counter({
      name: 'gateway_reject_total',
      help: 'orders refused, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    backpressure: Object.fromEntries(
      Object.entries(backpressureReasons).map(([reason, name]) => [
        reason,
        counter(name, `orders refused with ${reason}`),
      ]),
    ) as Record<BackpressureReason, Counter>,
    idempotencyHits: counter(
      'gateway_idempotency_hits_total',
      'orders answered from an earlier request with the same key',
    ),
    idempotencyMisses: counter('gateway_idempotency_misses_total', 'orders with a key not seen before'),
    orderRequests: orderRequests(registry),
    unauthorized: new Counter({
      name: 'gateway_unauthorized_total',
      help: 'requests refused with 401, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
  }
}

function orderRequests(registry: Registry): Counter<'status'> {
  const answers = new Counter({
    name: 'gateway_order_requests_total',
    help: 'POST /orders answers, by HTTP status',
    labelNames: ['status'],
    registers: [registry],
  })
  // 202 from 0 at start, so rate() sees the first accepted order (a series born at its first
  // increment hides it).
  answers.labels('202').inc(0)
  return answers
}
