import {z} from 'zod'
import type {RunningService, ServiceMain} from '../registry.js'
import {shardQueue} from '../../contract/topology.js'
import {baseConfig, parseConfig} from '../shared/config.js'
import {createRedis, Idempotency} from '../shared/idempotency.js'
import {createLogger} from '../shared/logger.js'
import {createRegistry} from '../shared/metrics.js'
import {startServiceBase} from '../shared/service-base.js'
import {invoiceWorkerMetrics} from './metrics.js'
import {invoiceHandler} from './worker.js'

const workerConfig = baseConfig.extend({
  FAIL_RATE: z.coerce.number().min(0).max(1).default(0),
  INVOICE_HOURLY_RATE: z.coerce.number().nonnegative().default(8000),
  INVOICE_CURRENCY: z.string().min(1).default('JPY'),
})

export const main: ServiceMain = async (env): Promise<RunningService> => {
  const config = parseConfig(workerConfig, env)
  const logger = createLogger('invoice-worker', undefined, {buffered: true})
  const redis = createRedis(config.REDIS_URL, logger, {autoPipelining: true})
  const registry = createRegistry('invoice-worker')
  const {latency, outcomes} = invoiceWorkerMetrics(registry)
  const base = await startServiceBase('invoice-worker', config, {
    logger,
    // An approval (pm) or an invoice draft (worker) is durable once in the outbox: answering then,
    // instead of after the broker's confirm too, keeps the per-timesheet section short.
    maxUnconfirmed: 1000,
    registry,
    health: async () => ({
      ok: redis.status === 'ready',
      redis: redis.status,
      failRate: config.FAIL_RATE,
      shards: config.NUM_SHARDS,
      // The counter's own values: /health and /metrics cannot disagree.
      ...Object.fromEntries((await outcomes.get()).values.map((v) => [v.labels.outcome, v.value])),
    }),
  })
  const {bus} = base
  if (config.FAIL_RATE > 0)
    logger.warn({failRate: config.FAIL_RATE}, 'FAIL_RATE set: that share of approvals goes to the DLQ')

  const handler = invoiceHandler({
    idempotency: new Idempotency(redis, config.IDEMP_TTL_MS),
    publish: (request) => bus.publish(request),
    logger,
    failRate: config.FAIL_RATE,
    hourlyRate: config.INVOICE_HOURLY_RATE,
    currency: config.INVOICE_CURRENCY,
    onOutcome: (outcome, latencyMs) => {
      outcomes.inc({outcome})
      if (latencyMs !== undefined) latency.observe(latencyMs / 1000)
    },
  })
  // One consumer per shard with prefetch 1: the events of one key are handled in publish order.
  for (let shard = 0; shard < config.NUM_SHARDS; shard++) {
    await bus.consume(shardQueue(shard), handler, {prefetch: 1})
  }
  await base.listen()

  return {
    close: async () => {
      await base.close()
      redis.disconnect()
    },
  }
}
