import {timingSafeEqual} from 'node:crypto'
import {type IncomingMessage, STATUS_CODES, type Server, type ServerResponse} from 'node:http'
import type {Socket} from 'node:net'
import type {Duplex} from 'node:stream'
import {
  fastify,
  LogController,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerFactory,
} from 'fastify'
import type {Registry} from 'prom-client'
import {ZodError} from 'zod'
import type {Logger} from './logger.js'
import {httpMetrics} from './metrics.js'
import {dependenciesReady, startGated} from './start-gate.js'

/** Thrown by route handlers for an expected failure; becomes `{error: code, message, ...details}` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

export type HealthReport = Record<string, unknown>

export interface HttpServerOptions {
  service: string
  logger: Logger
  registry: Registry
  bodyLimitBytes?: number
  /** Deepest nesting of arrays and objects a JSON body may have (400 `nesting_too_deep` beyond). */
  maxJsonDepth?: number
  /** Extra fields for GET /health; `ok: false` among them turns the answer into a 503. */
  health?: () => Promise<HealthReport> | HealthReport
  /**
   * Level of the one line per request. A service taking thousands of requests a second (the
   * gateway) logs them at debug: at info its log would cost more than its requests.
   */
  requestLogLevel?: 'info' | 'debug'
  /** Lets a service answer its hottest route on node:http before fastify sees it (fastify's option). */
  serverFactory?: FastifyServerFactory
  /** Longest path parameter, as sent (percent-encoded); longer → 414. Fastify's default is 100. */
  maxParamLength?: number
}

export type HttpServer = ReturnType<typeof createHttpServer>

interface ErrorAnswer {
  status: number
  body: {error: string; message: string} & Record<string, unknown>
}

/** Scraped every few seconds; at info level they would drown the requests that matter. */
const QUIET_ROUTES = new Set(['/health', '/metrics'])

/** Fastify's own 4xx codes that have a name in our error contract (SPEC §4). */
const FRAMEWORK_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_NOT_FOUND: 'not_found',
}

export function createHttpServer({
  service,
  logger,
  registry,
  bodyLimitBytes = 1024 * 1024,
  maxJsonDepth = defaultMaxJsonDepth,
  health,
  requestLogLevel = 'info',
  serverFactory,
  maxParamLength,
}: HttpServerOptions) {
  const startedAt = Date.now()
  const app = fastify({
    loggerInstance: logger,
    // One line per request comes from our onResponse hook; fastify's pair per request is noise.
    logController: new LogController({disableRequestLogging: true}),
    bodyLimit: bodyLimitBytes,
    // Bad URLs (e.g. `/%`) never reach the error handler; they get the same contract here.
    frameworkErrors: (error, request, reply) =>
      sendError(reply, toErrorAnswer(error, request.id, bodyLimitBytes)),
    clientErrorHandler: answerClientError,
    ...(serverFactory ? {serverFactory} : {}),
    ...(maxParamLength ? {maxParamLength} : {}),
  })
  // Our services speak JSON only, so a text/plain body is refused (415) rather than handed over as a string.
  app.removeContentTypeParser('text/plain')
  answerBelowFastify(app.server)

  const {requests, durations} = httpMetrics(registry)

  app.addHook('onResponse', async (request, reply) => {
    const ms = Math.round(reply.elapsedTime * 1000) / 1000
    // The route pattern, not the URL, keeps label cardinality bounded (ids in paths, scanners).
    const route = request.routeOptions.url ?? 'unmatched'
    requests.inc({method: request.method, route, status: reply.statusCode})
    durations.observe({method: request.method, route}, ms / 1000)
    const line = {method: request.method, url: request.url, status: reply.statusCode, ms}
    // A route's own `config: {quietLog: true}` (a hot path, one call per message) logs its successes at debug.
    const quiet =
      QUIET_ROUTES.has(route) ||
      requestLogLevel === 'debug' ||
      (reply.statusCode < 400 && (request.routeOptions.config as {quietLog?: boolean}).quietLog === true)
    if (quiet) request.log.debug(line, 'request')
    else request.log.info(line, 'request')
  })

  // Before any schema or handler sees the body: a document nested thousands deep overflows the
  // stack of whatever recurses over it later (JSON.stringify, a validator), and JSON.parse
  // turns 1e309 into Infinity, which passes as a number everywhere.
  app.addHook('preValidation', async (request) => {
    if (request.body !== undefined) checkJsonValue(request.body, 'body', maxJsonDepth)
  })
  // After validation, which is where query and path strings become numbers ("1e309" → Infinity).
  app.addHook('preHandler', async (request) => {
    checkJsonValue(request.query, 'querystring', 2)
    checkJsonValue(request.params, 'params', 2)
  })

  app.setNotFoundHandler((request, reply) => {
    sendError(reply, {
      status: 404,
      body: {error: 'not_found', message: `no route for ${request.method} ${request.url}`},
    })
  })

  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorAnswer(error, request.id, bodyLimitBytes, request.headers['content-type'])
    // A 5xx here is a bug in our code, not bad input: it is the one case worth a stack trace.
    if (answer.status >= 500) request.log.error({err: error}, 'unhandled error')
    sendError(reply, answer)
  })

  app.get('/health', async (_request, reply) => {
    const base = {ok: true, service, uptimeSec: Math.floor((Date.now() - startedAt) / 1000)}
    try {
      const report = {...base, ...(await health?.())}
      return reply.code(report.ok === false ? 503 : 200).send(report)
    } catch (error) {
      return reply.code(503).send({
        ...base,
        ok: false,
        error: 'health_check_failed',
        message: error instanceof Error ? error.message : String(error),
      })
    }
  })

  app.get('/metrics', async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics())
  })

  return app
}

/** Deep enough for any document our APIs take, far from what overflows a recursive walk. */
export const defaultMaxJsonDepth = 64

/**
 * Refuses a non-finite number anywhere in `value`, or nesting deeper than `maxDepth`; walks
 * iteratively, so the check itself cannot overflow whatever it is given.
 */
export function checkJsonValue(value: unknown, where: string, maxDepth: number): void {
  const pending: Array<{value: unknown; depth: number; path: string[]}> = [{value, depth: 0, path: []}]
  while (pending.length > 0) {
    const next = pending.pop()!
    if (typeof next.value === 'number' && !Number.isFinite(next.value)) {
      const field = next.path.join('.')
      throw new HttpError(
        400,
        'validation_failed',
        `${[where, ...next.path].join('.')} must be a finite number`,
        {
          field,
        },
      )
    }
    if (typeof next.value !== 'object' || next.value === null) continue
    if (next.depth >= maxDepth) {
      throw new HttpError(
        400,
        'nesting_too_deep',
        `${where} is nested more than ${maxDepth} levels deep; send a flatter document`,
        {maxDepth},
      )
    }
    const entries = Array.isArray(next.value) ? next.value.entries() : Object.entries(next.value)
    for (const [key, child] of entries) {
      // Only containers and numbers can fail; strings and the like need no stack entry.
      if (typeof child === 'number' || (typeof child === 'object' && child !== null)) {
        pending.push({value: child, depth: next.depth + 1, path: [...next.path, String(key)]})
      }
    }
  }
}

function sendError(reply: FastifyReply, {status, body}: ErrorAnswer): void {
  void reply.code(status).type('application/json; charset=utf-8').send(body)
}

function toErrorAnswer(
  error: unknown,
  requestId: string,
  bodyLimitBytes: number,
  contentType?: string,
): ErrorAnswer {
  if (error instanceof HttpError) {
    return {status: error.status, body: {...error.details, error: error.code, message: error.message}}
  }
  if (error instanceof ZodError) {
    const issue = error.issues[0]
    const field = issue?.path.join('.') ?? ''
    return validationFailed(field, `${field || 'input'}: ${issue?.message ?? 'invalid'}`)
  }
  if (!(error instanceof Error)) return internal(requestId)

  const fastifyError = error as Error & {
    code?: string
    statusCode?: number
    validation?: Array<{instancePath?: string; params?: Record<string, unknown>; message?: string}>
    validationContext?: string
  }
  if (fastifyError.validation) {
    const first = fastifyError.validation[0]
    const missing = first?.params?.missingProperty ?? first?.params?.additionalProperty
    const segments = (first?.instancePath ?? '').split('/').filter(Boolean)
    if (typeof missing === 'string') segments.push(missing)
    const field = segments.join('.')
    const where = [fastifyError.validationContext ?? 'body', ...segments].join('.')
    return validationFailed(field, `${where} ${first?.message ?? 'is invalid'}`)
  }

  const status = fastifyError.statusCode
  if (typeof status !== 'number' || status < 400 || status >= 500) return internal(requestId)
  const code = FRAMEWORK_CODES[fastifyError.code ?? ''] ?? 'bad_request'
  const messages: Record<string, string> = {
    invalid_json: 'the request body is not valid JSON; send a JSON document',
    payload_too_large: `the request body is larger than the limit of ${bodyLimitBytes} bytes`,
    unsupported_media_type: `content type ${contentType ?? '(none)'} is not supported; send application/json`,
  }
  return {status, body: {error: code, message: messages[code] ?? error.message}}
}

function validationFailed(field: string, message: string): ErrorAnswer {
  return {status: 400, body: {error: 'validation_failed', message, field}}
}

function internal(requestId: string): ErrorAnswer {
  return {
    status: 500,
    body: {
      error: 'internal',
      message: `internal error (request ${requestId}); the service log has the details`,
    },
  }
}

/**
 * What node:http answers on its own, before any handler runs, with an empty body (a request
 * without Host, an Expect it does not know) or no answer at all (CONNECT drops the socket):
 * here they get the JSON contract too. Works on a server a serverFactory made, whose
 * request listener is already attached.
 */
function answerBelowFastify(server: Server): void {
  // Node would answer 400 with an empty body; the check moves in front of the request listeners.
  Object.assign(server, {requireHostHeader: false})
  const listeners = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  server.removeAllListeners('request')
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
      res.shouldKeepAlive = false
      writeJson(res, 400, 'missing_host', 'an HTTP/1.1 request needs a Host header')
      return
    }
    for (const listener of listeners) listener.call(server, req, res)
  })
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    writeJson(
      res,
      417,
      'expectation_failed',
      `Expect: ${req.headers.expect ?? ''} is not supported; send no Expect header`,
    )
  })
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    const body = JSON.stringify({
      error: 'method_not_allowed',
      message: 'CONNECT is not supported: this is no proxy',
    })
    socket.end(
      `HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  })
}

function writeJson(res: ServerResponse, status: number, error: string, message: string): void {
  const body = JSON.stringify({error, message})
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}

/** Errors below HTTP (unparsable request line, oversized headers) still get the JSON contract. */
function answerClientError(error: Error & {code?: string}, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return
  const [status, code] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large']
        : [400, 'bad_request']
  const body = JSON.stringify({error: code, message: `malformed HTTP request: ${error.message}`})
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

export interface ListenOptions {
  host?: string
  port: number
}

/** Binds 127.0.0.1 unless told otherwise (SPEC §4); answers the bound address, which matters for port 0. */
export async function listen(
  app: HttpServer,
  {host = '127.0.0.1', port}: ListenOptions,
): Promise<{host: string; port: number; url: string}> {
  // Plugins and routes (fastify's ready) need no other component: done before poc up's start gate.
  await app.ready()
  if (startGated()) app.log.info('started; listens once its dependencies are ready (poc up start gate)')
  await dependenciesReady()
  await app.listen({host, port})
  const address = app.server.address()
  const bound = typeof address === 'object' && address ? address.port : port
  return {host, port: bound, url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`}
}

/**
 * Stops accepting, lets in-flight requests finish, then cuts whatever is still open after
 * `graceMs` (long-lived streams such as SSE would otherwise hold the shutdown forever).
 */
export async function close(app: HttpServer, graceMs = 10_000): Promise<void> {
  const timer = setTimeout(() => app.server.closeAllConnections(), graceMs)
  try {
    await app.close()
  } finally {
    clearTimeout(timer)
  }
}

const loopbackAddresses = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1'])

/**
 * Admin endpoints (reset, rebuild) answer on localhost only, to the bearer token from
 * `$POC_HOME/secrets/admin-token` (SPEC §7), and never to a browser. Without a configured token
 * they refuse everything: an admin route open by default is one a port scan can empty.
 */
export function assertAdmin(request: FastifyRequest, token: string | undefined): void {
  if (!loopbackAddresses.has(request.socket.remoteAddress ?? '')) {
    throw new HttpError(403, 'forbidden', 'admin endpoints answer on localhost only')
  }
  // A page in a browser can POST to localhost (no preflight for a simple request); the browser
  // always says where it came from, our CLI never does.
  const origin = request.headers.origin ?? request.headers['sec-fetch-site']
  if (origin !== undefined) {
    throw new HttpError(403, 'forbidden', 'admin endpoints refuse requests from a browser (Origin header)')
  }
  if (token === undefined) {
    throw new HttpError(
      401,
      'unauthorized',
      'admin endpoints are closed: this service started without $POC_HOME/secrets/admin-token; poc up creates it',
    )
  }
  if (!sameSecret(request.headers.authorization ?? '', `Bearer ${token}`)) {
    throw new HttpError(
      401,
      'unauthorized',
      'admin endpoints need Authorization: Bearer <the token in $POC_HOME/secrets/admin-token>',
    )
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
