import {createServer} from 'node:http'
import path from 'node:path'
import type {RunningService, ServiceMain} from '../registry.js'
import {parseConfig} from '../shared/config.js'
import {close, createHttpServer, listen} from '../shared/http.js'
import {createLogger} from '../shared/logger.js'
import {createRegistry} from '../shared/metrics.js'
import {dependenciesReady} from '../shared/start-gate.js'
import {readAdminToken} from '../../contract/files.js'
import {gatewayConfig, resolveSecret} from './config.js'
import {Gateway} from './gateway.js'
import {TokenVerifier} from '../../contract/jwt.js'
import {gatewayMetrics} from './metrics.js'
import {maxClientOrderIdLength, placeOrderHandler} from './place-order.js'
import {registerGatewayRoutes} from './routes.js'

/** The fast-path order gateway (SPEC §4.5). */
export const main: ServiceMain = async (env): Promise<RunningService> => {
  const config = parseConfig(gatewayConfig, env)
  const jwtSecret = resolveSecret(config, 'JWT_HS256_SECRET')
  const auditKey = resolveSecret(config, 'AUDIT_HMAC_KEY')
  const logger = createLogger('gateway')
  const registry = createRegistry('gateway')
  // The metrics are created before the gateway they read (it records into them while it opens).
  const holder: {gateway?: Gateway} = {}
  const metrics = gatewayMetrics(registry, {
    queueLen: () => holder.gateway?.queueLength ?? 0,
    inflight: () => holder.gateway?.inflight ?? 0,
    walAgeMs: () => holder.gateway?.walAgeMs() ?? 0,
    orders: () => holder.gateway?.orders ?? 0,
    sseClients: () => holder.gateway?.hub.stats().clients ?? 0,
    sseDropped: () => holder.gateway?.hub.stats().dropped ?? 0,
    outbox: () => holder.gateway?.outboxStatus(),
    inflightLimit: () => config.BACKPRESSURE_INFLIGHT_MAX ?? 0,
    durableCommitRate: () => holder.gateway?.durableCommitRate ?? 0,
    softRejectRate: () => holder.gateway?.softRejectsPerSec ?? 0,
  })
  // Opening starts its outbox's connection to the broker: not before poc up's start gate.
  await dependenciesReady()
  const opened = await Gateway.open(config, auditKey, metrics, logger)
  holder.gateway = opened
  const tokens = new TokenVerifier({
    secret: jwtSecret,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    clockSkewSeconds: config.JWT_CLOCK_SKEW_SEC,
  })
  const placeOrder = placeOrderHandler({
    gateway: opened,
    metrics,
    tokens,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    logger,
    answers: metrics.orderRequests,
  })
  const app = createHttpServer({
    service: 'gateway',
    logger,
    registry,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    requestLogLevel: 'debug',
    // GET /orders/client/:id takes any clientOrderId POST /orders took, percent-encoded at worst.
    maxParamLength: maxClientOrderIdLength * 3,
    serverFactory: (handler) =>
      createServer((req, res) => {
        if (req.method === 'POST' && (req.url === '/orders' || req.url?.startsWith('/orders?')))
          placeOrder(req, res)
        else handler(req, res)
      }),
    health: () => {
      const report = opened.health()
      return {...report, ok: report.status !== 'unhealthy'}
    },
  })
  registerGatewayRoutes(app, {
    gateway: opened,
    metrics,
    tokens,
    adminToken: await readAdminToken(config.POC_HOME ?? path.resolve(config.DATA_DIR, '..', '..')),
  })
  await listen(app, {host: config.HOST, port: config.PORT})
  logger.info({port: config.PORT, orders: opened.orders, wal: opened.walFile}, 'gateway ready')
  return {
    close: async () => {
      // Streams first: an open stream would hold the HTTP server's close for its whole grace.
      opened.hub.close()
      await close(app)
      await opened.close()
    },
  }
}
