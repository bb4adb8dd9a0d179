import type {RunningService, ServiceMain} from '../registry.js'
import {parseConfig} from '../shared/config.js'
import {close, createHttpServer, listen} from '../shared/http.js'
import {createLogger} from '../shared/logger.js'
import {createRegistry} from '../shared/metrics.js'
import {uiConfig} from './config.js'
import {uiMetrics} from './metrics.js'
import {PmProbe} from './pm-probe.js'
import {registerPmProxy} from './proxy.js'
import {registerApp} from './static.js'

/**
 * The web UI: the built single-page app and a proxy to pm on one origin. It keeps serving (and
 * its /health stays ok) while pm is down: the pages then show their cached data.
 */
export const main: ServiceMain = async (env): Promise<RunningService> => {
  const config = parseConfig(uiConfig, env)
  const logger = createLogger('ui')
  const registry = createRegistry('ui')
  // The HTTP server registers its own families on this registry; the ui's come after.
  const metrics = uiMetrics(registry)
  const probe = new PmProbe(config.PM_URL, (reachable) => metrics.pmReachable.set(reachable ? 1 : 0))
  const app = createHttpServer({
    service: 'ui',
    logger,
    registry,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    health: async () => ({ok: true, pm: await probe.check(), app: {dir: config.UI_APP_DIR}}),
  })
  await registerPmProxy(app, {pmUrl: config.PM_URL, timeoutMs: config.UI_PROXY_TIMEOUT_MS, metrics})
  await registerApp(app, config.UI_APP_DIR)
  const bound = await listen(app, {host: config.HOST, port: config.PORT})
  logger.info({url: bound.url, pm: config.PM_URL, app: config.UI_APP_DIR}, 'ui listening')
  void probe.check()
  // Streams proxied from pm (/metrics/stream) never end by themselves: a second for the
  // requests in flight, then they are cut (the browsers reconnect to whatever runs next).
  return {close: () => close(app, 1000)}
}
