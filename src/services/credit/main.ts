import path from 'node:path'
import {z} from 'zod'
import {readAdminToken} from '../../contract/files.js'
import {orderEvents} from '../../contract/orders.js'
import type {RunningService, ServiceMain} from '../registry.js'
import {baseConfig, parseConfig} from '../shared/config.js'
import {createRedis, Idempotency} from '../shared/idempotency.js'
import {createLogger} from '../shared/logger.js'
import {startServiceBase} from '../shared/service-base.js'
import {StateFile} from '../shared/state-file.js'
import {creditHandler} from './decide.js'
import {creditMetrics} from './metrics.js'
import {asCreditState, type CreditState} from './orders.js'
import {registerCreditRoutes} from './routes.js'

const creditConfig = baseConfig.extend({
  CREDIT_LIMIT: z.coerce.number().nonnegative().default(1_000_000),
  /** Where credit keeps each order's state (approved, onhold, requested, revoked). */
  CREDIT_STATE_FILE: z.string().optional(),
  POC_HOME: z.string().optional(),
})

export const main: ServiceMain = async (env): Promise<RunningService> => {
  const config = parseConfig(creditConfig, env)
  const logger = createLogger('credit')
  const store = await StateFile.open<CreditState>({
    file: config.CREDIT_STATE_FILE ?? path.join(config.DATA_DIR, 'credit-orders.json'),
    label: 'credit state',
    validate: asCreditState,
    initial: () => ({orders: {}}),
    logger,
  })
  const redis = createRedis(config.REDIS_URL, logger)
  const base = await startServiceBase('credit', config, {
    logger,
    health: async () => {
      const state = await store.health()
      return {
        ok: redis.status === 'ready' && state.writable,
        redis: redis.status,
        creditLimit: config.CREDIT_LIMIT,
        orders: Object.keys(store.current.orders).length,
        state,
      }
    },
  })
  const {bus, app, registry} = base
  const {decisions} = creditMetrics(registry)
  const publish = bus.publish.bind(bus)

  registerCreditRoutes(app, {
    store,
    publish,
    numShards: config.NUM_SHARDS,
    logger,
    adminToken: await readAdminToken(config.POC_HOME ?? path.resolve(config.DATA_DIR, '..', '..')),
    onAction: (action) => {
      if (action === 'override') decisions.inc({decision: 'approved', source: 'override'})
      if (action === 'revoke') decisions.inc({decision: 'revoked', source: 'revoke'})
    },
    reset: () => store.replace({orders: {}}),
  })

  await bus.declareInbox('credit.inbox', [orderEvents.orderConfirmed, orderEvents.creditRequested])
  await bus.consume(
    'credit.inbox',
    creditHandler({
      limit: config.CREDIT_LIMIT,
      idempotency: new Idempotency(redis, config.IDEMP_TTL_MS),
      publish,
      store,
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
