import {z} from 'zod'
import type {RunningService, ServiceMain} from '../registry.js'
import {baseConfig, parseConfig} from '../shared/config.js'
import {createRedis, Idempotency} from '../shared/idempotency.js'
import {maxAmount, parseInput} from '../shared/input.js'
import {createLogger} from '../shared/logger.js'
import {startServiceBase} from '../shared/service-base.js'
import {creditHandler, publishDecision} from './decide.js'
import {creditMetrics} from './metrics.js'

const creditConfig = baseConfig.extend({
  CREDIT_LIMIT: z.coerce.number().nonnegative().default(1_000_000),
})

const overrideBody = z.object({
  orderId: z.string().trim().min(1).max(128),
  amount: z.number().finite().positive().max(maxAmount),
  approver: z.string().trim().min(1).max(128),
})

export const main: ServiceMain = async (env): Promise<RunningService> => {
  const config = parseConfig(creditConfig, env)
  const logger = createLogger('credit')
  const redis = createRedis(config.REDIS_URL, logger)
  const base = await startServiceBase('credit', config, {
    logger,
    health: () => ({ok: redis.status === 'ready', redis: redis.status, creditLimit: config.CREDIT_LIMIT}),
  })
  const {bus, app, registry} = base
  const {decisions} = creditMetrics(registry)
  const publish = bus.publish.bind(bus)

  app.post('/credit/override', async (request) => {
    const body = parseInput(overrideBody, request.body)
    const eventId = await publishDecision(publish, 'approved', {
      ...body,
      override: true,
      reason: 'manual override',
    })
    decisions.inc({decision: 'approved', source: 'override'})
    logger.info(
      {orderId: body.orderId, approver: body.approver, eventId},
      `credit override approved ${body.orderId}`,
    )
    return {ok: true, orderId: body.orderId, credit: 'approved', eventId}
  })

  await bus.declareInbox('credit.inbox', ['sales.order.confirmed'])
  await bus.consume(
    'credit.inbox',
    creditHandler({
      limit: config.CREDIT_LIMIT,
      idempotency: new Idempotency(redis, config.IDEMP_TTL_MS),
      publish,
      logger,
      onDecision: (decision) => decisions.inc({decision, source: 'rule'}),
    }),
  )
  await base.listen()
  return {
    close: async () => {
      await base.close()
      redis.disconnect()
    },
  }
}
