import type {LatencyHistogram} from '../../contract/latency.js'
import type {WalOutboxStatus} from './outbox.js'

/**
 * GET /stats in the seed's shape (its app's RouterStats, which quick_canary.py, run_canary.sh and
 * the seed's dashboards read), filled with what the poc gateway measures. Counts and percentiles
 * cover the time since start or the last admin reset, as the HDR histograms do.
 */

/** What the gateway has counted since start or the last reset. */
export interface StatsTally {
  /** Orders accepted (appended to the WAL). */
  accepted: number
  /** Orders and /events probes refused because the fast-path queue was full (QUEUE_REJECT). */
  queueFull: number
  /** Orders refused by a backpressure limit (BACKPRESSURE_*): the persistence side pushing back. */
  backpressure: number
  /** Orders refused because the WAL cannot be written (WAL_UNAVAILABLE). */
  walUnavailable: number
}

export interface StatsSources {
  tally: StatsTally
  /** Items the drain processed: orders, cancels and /events probes. */
  processed: number
  /** Received → on the fast-path queue (orders and probes). */
  publish: LatencyHistogram
  /** On the queue → processed by the drain. */
  process: LatencyHistogram
  /** Orders received → durable; its count is the orders made durable. */
  durableAck: LatencyHistogram
  fdatasync: LatencyHistogram
  /** WAL records appended and not yet durable. */
  walPending: number
  outbox: WalOutboxStatus
}

export type SeedStats = Record<string, number>

export function seedStats(s: StatsSources): SeedStats {
  const publish = s.publish.percentiles()
  const process = s.process.percentiles()
  const write = s.fdatasync.percentiles()
  return {
    fast_path_count: s.processed,
    // poc has no slow path: every order and probe takes the fast path.
    slow_path_count: 0,
    fallback_count: 0,
    fast_path_ratio: s.processed > 0 ? 1 : 0,
    fast_path_avg_publish_us: s.publish.mean,
    fast_path_avg_process_us: s.process.mean,
    fast_path_drop_count: s.tally.queueFull,
    fast_path_publish_p50_us: publish.p50,
    fast_path_publish_p99_us: publish.p99,
    fast_path_publish_p999_us: publish.p999,
    fast_path_process_p50_us: process.p50,
    fast_path_process_p99_us: process.p99,
    fast_path_process_p999_us: process.p999,
    // The seed's persistence queue is poc's WAL: appended, made durable by group commit.
    persistence_queue_publish_count: s.tally.accepted,
    persistence_queue_drop_count: s.tally.backpressure,
    persistence_queue_process_count: s.durableAck.count,
    persistence_queue_error_count: s.tally.walUnavailable,
    persistence_queue_lag: s.walPending,
    persistence_queue_write_p50_us: write.p50,
    persistence_queue_write_p99_us: write.p99,
    persistence_queue_write_p999_us: write.p999,
    // The seed's Kafka bridge is poc's outbox to RabbitMQ (counted since the gateway started).
    kafka_bridge_read_count: s.outbox.read,
    kafka_bridge_send_count: s.outbox.published,
    kafka_bridge_send_error_count: s.outbox.errors,
  }
}
