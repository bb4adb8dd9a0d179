import path from 'node:path'
import {z} from 'zod'
import {packageRoot} from '../../lib/package-root.js'
import type {RunningService, ServiceMain} from '../registry.js'
import {ConfigError, baseConfig, parseConfig} from '../shared/config.js'
import {type Logger, createLogger} from '../shared/logger.js'
import {RateLimiter} from '../shared/rate-limit.js'
import {startServiceBase} from '../shared/service-base.js'
import {readAdminToken} from '../../contract/files.js'
import {type ObjectStoreConfig, loadSdk, objectStoreFromEnv} from '../../contract/object-store.js'
import type {AttachmentStore} from './attachments.js'
import {SseHub} from '../shared/sse.js'
import {parseCorsOrigins} from './cors.js'
import {registerPmRoutes} from './routes.js'
import {PmStore} from './store.js'
import {seedTelemetry, TelemetryStore, type TelemetryQuery} from './telemetry.js'

const pmConfig = baseConfig.extend({
  PM_STATE_FILE: z.string().optional(),
  PM_SEED_FILE: z.string().default(path.join(packageRoot, 'fixtures', 'pm', 'seed.json')),
  TELEMETRY_LOG_PATH: z.string().optional(),
  TELEMETRY_MAX_LOG_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(5 * 1024 * 1024),
  TELEMETRY_LOG_MAX_ARCHIVES: z.coerce.number().int().min(0).default(3),
  /** The seed's switch: set, pm starts without its sample telemetry events. */
  TELEMETRY_SEED_DISABLE: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['', '0', '1', 'false', 'true', 'no', 'yes']))
    .default('')
    .transform((value) => ['1', 'true', 'yes'].includes(value)),
  TELEMETRY_SEED_FILE: z.string().default(path.join(packageRoot, 'fixtures', 'pm', 'telemetry-seed.json')),
  METRICS_CACHE_MS: z.coerce.number().int().min(0).default(5000),
  /** Streams one address may hold on each of /metrics/stream and the telemetry stream (429 beyond). */
  SSE_MAX_CLIENTS_PER_IP: z.coerce.number().int().positive().default(1024),
  /** Telemetry POSTs one address may send per second, sustained, and at once (429 rate_limited beyond). */
  TELEMETRY_RATE_PER_SEC: z.coerce.number().positive().finite().default(50),
  TELEMETRY_RATE_BURST: z.coerce.number().int().positive().default(100),
  POC_HOME: z.string().optional(),
  /** `production` turns GraphiQL (/graphiql) off, as the seed's pm-service does. */
  NODE_ENV: z.string().optional(),
  /** Browser origins allowed to call pm (comma-separated, or `*`); unset, pages on this machine only. */
  CORS_ORIGIN: z
    .string()
    .optional()
    .transform((value, ctx) => {
      try {
        return parseCorsOrigins(value)
      } catch (error) {
        ctx.addIssue({code: z.ZodIssueCode.custom, message: (error as Error).message})
        return z.NEVER
      }
    }),
})

const invoiceGenerated = z.object({
  invoiceId: z.string().min(1),
  timesheetId: z.string().min(1),
  projectCode: z.string().optional(),
  amount: z.number().optional(),
  currency: z.string().optional(),
  hours: z.number().optional(),
  status: z.string().default('draft'),
  attachmentUrl: z.string().optional(),
})

/** USE_MINIO and the MINIO_* variables (src/contract/object-store.ts), a bad value failing the start like any other. */
function objectStoreConfig(env: NodeJS.ProcessEnv): ObjectStoreConfig | undefined {
  try {
    return objectStoreFromEnv(env)
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${(error as Error).message}`)
  }
}

async function loadAttachments(config: ObjectStoreConfig, logger: Logger): Promise<AttachmentStore> {
  await loadSdk()
  const {AttachmentStore} = await import('./attachments.js')
  logger.info(
    `attachments in object storage: ${config.endpoint}, bucket ${config.bucket}, URLs for ${config.publicEndpoint} valid ${config.presignSeconds} s`,
  )
  return new AttachmentStore({config, logger})
}

export const main: ServiceMain = async (env): Promise<RunningService> => {
  const config = parseConfig(pmConfig, env)
  const objectStore = objectStoreConfig(env)
  const logger = createLogger('pm', undefined, {buffered: true})
  const home = config.POC_HOME ?? path.resolve(config.DATA_DIR, '..', '..')
  const store = await PmStore.open(
    config.PM_STATE_FILE ?? path.join(config.DATA_DIR, 'pm-poc-state.json'),
    config.PM_SEED_FILE,
    logger,
  )
  const telemetry = new TelemetryStore({
    logPath: config.TELEMETRY_LOG_PATH ?? path.join(home, 'logs', 'telemetry.log'),
    maxLogBytes: config.TELEMETRY_MAX_LOG_BYTES,
    maxArchives: config.TELEMETRY_LOG_MAX_ARCHIVES,
    onListenerError: (error) =>
      logger.error({err: error}, 'a telemetry subscriber failed; the event is recorded'),
  })
  await telemetry.load()
  if (config.TELEMETRY_SEED_DISABLE) {
    logger.info('telemetry seed skipped (TELEMETRY_SEED_DISABLE)')
  } else {
    const seeded = await seedTelemetry(telemetry, config.TELEMETRY_SEED_FILE)
    if (seeded > 0)
      logger.info({seeded, file: config.TELEMETRY_SEED_FILE}, `seeded ${seeded} sample telemetry events`)
  }

  const metricsHub = new SseHub({maxClientsPerIp: config.SSE_MAX_CLIENTS_PER_IP})
  const telemetryHub = new SseHub<Partial<TelemetryQuery>>({maxClientsPerIp: config.SSE_MAX_CLIENTS_PER_IP})
  const base = await startServiceBase('pm', config, {
    logger,
    // An approval (pm) or an invoice draft (worker) is durable once in the outbox: answering then,
    // instead of after the broker's confirm too, keeps the per-timesheet section short.
    maxUnconfirmed: 1000,
    health: async () => {
      const state = await store.health()
      return {
        ok: state.writable,
        state,
        sseClients: metricsHub.stats().clients,
        sse: {metrics: metricsHub.stats(), telemetry: telemetryHub.stats()},
      }
    },
  })
  const {bus, app} = base
  // Uploads run in the background: pm serves at once, an attachment not uploaded yet is answered
  // unavailable. The SDK takes about half a second to load: that starts once pm listens, and only
  // an invoice list asked for meanwhile waits for it.
  let attachments: Promise<AttachmentStore> | undefined
  const {notifyChange} = registerPmRoutes(app, {
    store,
    telemetry,
    publisher: bus,
    metricsHub,
    telemetryHub,
    seedFile: config.PM_SEED_FILE,
    metricsCacheMs: config.METRICS_CACHE_MS,
    adminToken: await readAdminToken(home),
    telemetryLimiter: new RateLimiter(config.TELEMETRY_RATE_PER_SEC, config.TELEMETRY_RATE_BURST),
    idempotencyStats: () => ({ttlMs: config.IDEMP_TTL_MS}),
    corsOrigins: config.CORS_ORIGIN,
    graphiql: config.NODE_ENV !== 'production',
    ...(objectStore
      ? {
          attachments: {
            decorate: async (invoices) =>
              (await (attachments as Promise<AttachmentStore>)).decorate(invoices),
          },
        }
      : {}),
  })

  // fi announces invoices; pm links them to their timesheets (a redelivery links nothing twice).
  // Many links in flight share one journal fsync. The summary pushed to /metrics/stream counts
  // every invoice: links push it at most once a second (the first at once), not once each.
  let pushTimer: NodeJS.Timeout | undefined
  let pushAgain = false
  const changed = () => {
    if (pushTimer) {
      pushAgain = true
      return
    }
    notifyChange()
    pushTimer = setTimeout(() => {
      pushTimer = undefined
      if (pushAgain) {
        pushAgain = false
        changed()
      }
    }, 1000)
    pushTimer.unref()
  }
  await bus.declareInbox('pm.inbox', ['fi.invoice.generated'])
  await bus.consume(
    'pm.inbox',
    async (envelope) => {
      const parsed = invoiceGenerated.safeParse(envelope.payload)
      if (!parsed.success) {
        logger.warn(
          {eventId: envelope.eventId, issues: parsed.error.issues},
          'fi.invoice.generated without an invoice; dead-lettered',
        )
        return 'dead'
      }
      if (await store.link(parsed.data, new Date())) {
        changed()
        // A link is appended, so the search from the end finds it at once.
        const invoice = store.current.invoices.findLast((i) => i.invoiceId === parsed.data.invoiceId)
        if (invoice) void attachments?.then((loaded) => loaded.ensure([invoice]))
      }
      return 'ack'
    },
    {prefetch: 64},
  )

  await base.listen()
  if (objectStore) {
    attachments = loadAttachments(objectStore, logger)
    // Every invoice, also those linked before this point.
    attachments
      .then((loaded) => loaded.ensure(store.current.invoices))
      .catch((error: unknown) => logger.error({err: error}, 'object storage: the S3 client did not load'))
  }

  return {
    close: async () => {
      metricsHub.close()
      telemetryHub.close()
      clearTimeout(pushTimer)
      const loaded = await attachments?.catch(() => undefined)
      loaded?.close()
      await base.close()
      await store.close()
    },
  }
}
