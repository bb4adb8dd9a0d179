import path from 'node:path'
import type {Registry} from 'prom-client'
import {Bus} from './bus.js'
import type {BaseConfig} from './config.js'
import {close, createHttpServer, type HealthReport, type HttpServer, listen} from './http.js'
import {createLogger, type Logger} from './logger.js'
import {busMetrics, createRegistry} from './metrics.js'

export interface ServiceBase {
  logger: Logger
  bus: Bus
  registry: Registry
  app: HttpServer
  /** Starts answering HTTP; call once the routes are registered. */
  listen(): Promise<void>
  /** Stops HTTP, then the bus (which finishes in-flight handlers and flushes the outbox). */
  close(): Promise<void>
}

export interface ServiceBaseOptions {
  /** The service's logger when it needed one before the base started. */
  logger?: Logger
  /** The service's metrics registry when it needed one before the base started. */
  registry?: Registry
  /** Extra fields for GET /health; `ok: false` answers 503. The bus's status is always there. */
  health?: () => Promise<HealthReport> | HealthReport
  /** The bus's maxUnconfirmed: publishes answered once in the outbox, while this few await a confirm. */
  maxUnconfirmed?: number
}

/**
 * What every service main starts with: a JSON logger, the bus with its outbox in DATA_DIR, a
 * metrics registry and the HTTP server with /health and /metrics. A service whose bus is
 * not connected reports `ok: false`, so `poc status` and readiness tell the truth about it.
 */
export async function startServiceBase(
  service: string,
  config: BaseConfig,
  options: ServiceBaseOptions = {},
): Promise<ServiceBase> {
  const logger = options.logger ?? createLogger(service)
  const bus = new Bus({
    url: config.AMQP_URL,
    numShards: config.NUM_SHARDS,
    outboxFile: path.join(config.DATA_DIR, 'outbox.jsonl'),
    logger,
    service,
    maxUnconfirmed: options.maxUnconfirmed,
  })
  await bus.start()
  const registry = options.registry ?? createRegistry(service)
  busMetrics(registry, () => bus.status())
  const app = createHttpServer({
    service,
    logger,
    registry,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    health: async () => {
      const busStatus = bus.status()
      const extra = (await options.health?.()) ?? {}
      const ok = busStatus.connected && busStatus.consumersActive && extra.ok !== false
      return {...extra, ok, bus: busStatus}
    },
  })
  return {
    logger,
    bus,
    registry,
    app,
    listen: async () => {
      await listen(app, {host: config.HOST, port: config.PORT})
    },
    close: async () => {
      await close(app)
      await bus.close()
    },
  }
}

/** `$POC_HOME/secrets/admin-token`, when present, guards POST /admin/reset. */
