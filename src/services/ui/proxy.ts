import replyFrom, {type FastifyReplyFromHooks} from '@fastify/reply-from'
import type {FastifyReply, FastifyRequest, HTTPMethods} from 'fastify'
import type {HttpServer} from '../shared/http.js'
import type {UiMetrics} from './metrics.js'

/**
 * What the browser asks of pm through the ui, on the ui's own origin (no CORS, one port to open).
 * Everything under /api/ goes, so an unknown API path is pm's 404; /admin/* never does.
 */
export const proxiedRoutes: ReadonlyArray<{url: string; methods: HTTPMethods[]; stream?: boolean}> = [
  {url: '/api/*', methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']},
  {url: '/graphql', methods: ['GET', 'POST', 'OPTIONS']},
  {url: '/metrics/summary', methods: ['GET']},
  {url: '/metrics/stream', methods: ['GET'], stream: true},
  {url: '/events/recent', methods: ['GET']},
  {url: '/health/telemetry', methods: ['GET']},
]

export interface ProxyOptions {
  pmUrl: string
  timeoutMs: number
  metrics: UiMetrics
}

/** undici's codes for "nothing answers there", as opposed to a timeout. */
const refusedCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
])

/**
 * Registers the proxy to pm (@fastify/reply-from over undici). A pm that is down is a quick JSON
 * 503 `upstream_unavailable` (connection refused answers at once; a connect that hangs gives up
 * after 2 s), one that does not answer in time a 504 `upstream_timeout`; SSE streams pass through
 * unbuffered and without a timeout, and end upstream when the browser leaves.
 */
export async function registerPmProxy(
  app: HttpServer,
  {pmUrl, timeoutMs, metrics}: ProxyOptions,
): Promise<void> {
  await app.register(replyFrom, {
    base: pmUrl,
    disableRequestLogging: true,
    undici: {
      connections: 256,
      pipelining: 1,
      connect: {timeout: 2000},
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    },
  })

  const onError: NonNullable<FastifyReplyFromHooks['onError']> = (reply, {error: failure}) => {
    const error = failure as Error & {code?: string; cause?: unknown}
    const cause = (error.cause ?? {}) as {code?: string; message?: string}
    const code = cause.code ?? error.code ?? ''
    const timedOut =
      /TIMEOUT/.test(code) || error.name === 'GatewayTimeoutError' || /timeout/i.test(error.message)
    const reason = timedOut ? 'timeout' : refusedCodes.has(code) ? 'unavailable' : 'failed'
    metrics.upstreamFailures.inc({reason})
    if (reason !== 'timeout') metrics.pmReachable.set(0)
    const what = `${reply.request.method} ${reply.request.url.split('?')[0]}`
    void reply
      .code(timedOut ? 504 : 503)
      .type('application/json; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(
        timedOut
          ? {
              error: 'upstream_timeout',
              message: `pm at ${pmUrl} did not answer ${what} within ${timeoutMs} ms; the UI keeps serving, see poc logs pm`,
            }
          : {
              error: 'upstream_unavailable',
              message: `pm at ${pmUrl} is not reachable for ${what} (${cause.message ?? code ?? error.message}); the UI keeps serving cached data, start pm with poc up`,
            },
      )
  }

  for (const route of proxiedRoutes) {
    app.route({
      method: route.methods,
      url: route.url,
      handler: (request: FastifyRequest, reply: FastifyReply) => {
        return reply.from(request.url, {
          onError,
          // A 503 from pm is pm's answer (its telemetry health says so), not a reason to ask again.
          retryDelay: () => null,
          ...(route.stream ? {timeout: 0} : isStream(request) ? {timeout: 0} : {}),
          onResponse: (_request, res, upstream) => {
            metrics.pmReachable.set(1)
            void res.send(upstream.stream)
          },
        })
      },
    })
  }

  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/admin/*',
    handler: async (request, reply) =>
      reply.code(404).send({
        error: 'not_found',
        message: `the ui does not proxy ${request.method} ${request.url.split('?')[0]}: admin routes answer on the services' own ports only (poc reset)`,
      }),
  })
}

/** An SSE request under /api (pm's telemetry stream) has no body timeout either. */
function isStream(request: FastifyRequest): boolean {
  return (
    (request.headers.accept ?? '').includes('text/event-stream') ||
    request.url.split('?')[0]!.endsWith('/stream')
  )
}
