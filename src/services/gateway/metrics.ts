import {Counter, Gauge, type Registry} from 'prom-client'
import {counterOf, derivedHistogram} from '../shared/metrics.js'
import {LatencyHistogram} from '../../contract/latency.js'
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

/**
 * Upper bounds of every `gateway_<latency>_seconds` histogram: one set, so that dashboards can
 * add them up across latencies and instances; 10 µs (the fast path) to 10 s (a stuck disk).
 */
export const latencyBucketsSeconds = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5, 10,
] as const
const latencyBucketsUs = latencyBucketsSeconds.map((s) => Math.round(s * 1e6))

/**
 * The seed's names that carry a unit abbreviation, which promtool's lint refuses ("metric
 * names should not contain abbreviated units"). Kept because the seed's dashboards, gates and
 * scripts read them; every other series we export passes `promtool check metrics`, and the
 * `_seconds` histograms carry the same latencies in base units.
 */
export const seedNamesWithUnits: readonly string[] = [
  ...latencyNames.flatMap((name) => ['p50', 'p99', 'p999'].map((p) => `gateway_${name}_${p}_us`)),
  'gateway_wal_age_ms',
  'gateway_outbox_backoff_current_ms',
]

/** Our refusal reasons that the seed counts in a counter of its own, beside `gateway_reject_total{reason}`. */
export const seedRejectCounters = {
  INVALID_QTY: ['gateway_reject_invalid_qty_total', 'orders refused with 422 INVALID_QTY'],
  RATE_LIMITED: ['gateway_reject_rate_limit_total', 'orders refused with 429 RATE_LIMITED'],
  RISK_REJECT: [
    'gateway_reject_risk_total',
    'orders refused with 422 RISK_REJECT (MAX_ORDER_QTY or MAX_NOTIONAL)',
  ],
  INVALID_SYMBOL: [
    'gateway_reject_invalid_symbol_total',
    'orders refused with 422 INVALID_SYMBOL (malformed, not in SYMBOLS, or past MAX_SYMBOLS)',
  ],
  QUEUE_REJECT: [
    'gateway_reject_queue_full_total',
    'orders refused with 503 QUEUE_REJECT (the fast-path queue is full)',
  ],
} as const satisfies Record<string, readonly [string, string]>

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
  /** BACKPRESSURE_INFLIGHT_MAX, the one (static) inflight limit; 0 when it is not set. */
  inflightLimit(): number
  /** Orders made durable per second, smoothed (see ewma.ts). */
  durableCommitRate(): number
  /** Soft (429 BACKPRESSURE_SOFT_*) refusals per second, smoothed. */
  softRejectRate(): number
}

export interface GatewayMetrics {
  latency: Record<LatencyName, LatencyHistogram>
  accepted: Counter
  rejects: Counter<'reason'>
  /** The seed's per-reason counters (seedRejectCounters), by our reason. */
  seedRejects: Partial<Record<string, Counter>>
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
    derivedHistogram(
      registry,
      `gateway_${name}_seconds`,
      `${name.replaceAll('_', ' ')} latency, seconds (the HDR histogram behind the _p*_us gauges, in buckets)`,
      latencyBucketsSeconds,
      () => {
        const h = latency[name].cumulative(latencyBucketsUs)
        return {counts: h.counts, sum: h.sum / 1e6, count: h.count}
      },
    )
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
  counterOf(
    registry,
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
  const outboxCounter = (name: string, help: string, read: (status: WalOutboxStatus) => number) =>
    counterOf(registry, name, help, () => {
      const status = gauges.outbox()
      return status ? read(status) : 0
    })
  outboxCounter('gateway_outbox_events_read_total', 'WAL lines the outbox read', (o) => o.read)
  outboxCounter('gateway_outbox_events_published_total', 'events published and confirmed', (o) => o.published)
  outboxCounter('gateway_outbox_events_skipped_total', 'WAL lines that are not announced', (o) => o.skipped)
  outboxCounter('gateway_outbox_publish_errors_total', 'failed publish rounds', (o) => o.errors)
  outboxCounter('gateway_outbox_offset_resets_total', 'corrupt offset files set aside', (o) => o.offsetResets)
  // The seed's names for what it has and poc has differently (SPEC §4.5: the seed's names).
  outboxCounter(
    'gateway_kafka_delivery_err_total',
    "the seed's Kafka delivery failures; in poc the outbox's failed publish rounds to RabbitMQ (= gateway_outbox_publish_errors_total)",
    (o) => o.errors,
  )
  gauge(
    'gateway_inflight_dynamic_enabled',
    "1 while the seed's dynamic inflight controller runs; always 0 in poc, whose inflight limit is static (BACKPRESSURE_INFLIGHT_MAX)",
    () => 0,
  )
  gauge(
    'gateway_inflight_limit_dynamic',
    'the inflight limit in force: BACKPRESSURE_INFLIGHT_MAX (static in poc), 0 when it is not set',
    gauges.inflightLimit,
  )
  gauge(
    'gateway_durable_commit_rate_ewma',
    'orders made durable (fdatasynced) per second, EWMA over 250 ms ticks (beta 0.2)',
    gauges.durableCommitRate,
  )
  gauge(
    'gateway_backpressure_soft_reject_rate_ewma',
    'soft backpressure refusals (429 BACKPRESSURE_SOFT_*) per second, EWMA over 250 ms ticks (beta 0.2)',
    gauges.softRejectRate,
  )
  counterOf(
    registry,
    'gateway_backpressure_soft_rate_decline_total',
    "the seed's soft refusals for a falling durable rate; always 0 in poc, which has no such controller",
    () => 0,
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
    seedRejects: Object.fromEntries(
      Object.entries(seedRejectCounters).map(([reason, [name, help]]) => [reason, counter(name, help)]),
    ),
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
