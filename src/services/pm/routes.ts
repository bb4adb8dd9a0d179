import {z} from 'zod'
import {assertAdmin, HttpError, type HttpServer} from '../shared/http.js'
import {idempotencyKeyOf} from '../shared/idempotency-key.js'
import {parseInput} from '../shared/input.js'
import type {RateLimiter} from '../shared/rate-limit.js'
import {MESSAGE_EVENT, type SseHub} from '../shared/sse.js'
import {createPmCommands, type PmCommandDeps, type PmCommands, type PmPublisher} from './commands.js'
import {type CorsOrigins, localOrigins, registerCors} from './cors.js'
import {registerPmGraphql} from './graphql.js'
import {invoiceQuery, withInvoiceAliases} from './invoices.js'
import type {PmStore} from './store.js'
import {type TelemetryQuery, type TelemetryStore, matches, parseLastEventId, parseQuery} from './telemetry.js'
import {telemetryStreamEvents} from '../../contract/telemetry.js'

export type {PmPublisher} from './commands.js'

export interface PmDeps {
  store: PmStore
  telemetry: TelemetryStore
  publisher: PmPublisher
  metricsHub: SseHub
  telemetryHub: SseHub<Partial<TelemetryQuery>>
  seedFile: string
  metricsCacheMs: number
  /** From $POC_HOME/secrets when configured: POST /admin/reset then needs it as a bearer token. */
  adminToken?: string
  idempotencyStats: () => Record<string, number>
  /** Telemetry POSTs per remote address; unlimited without one. */
  telemetryLimiter?: RateLimiter
  /** Browser origins allowed (CORS_ORIGIN); the local ones by default. */
  corsOrigins?: CorsOrigins
  /** GraphiQL at /graphiql (not in production). */
  graphiql?: boolean
  now?: () => Date
  /** USE_MINIO: invoices are answered with their attachments' presigned URLs. */
  attachments?: PmCommandDeps['attachments']
}

const text = z.string().max(200).optional()

const projectListQuery = z.object({
  status: text,
  keyword: text,
  manager: text,
  health: text,
  tag: text,
  // Repeated (?tags=a&tags=b) or comma-separated.
  tags: z
    .union([z.string().max(1000), z.array(z.string().max(200)).max(50)])
    .optional()
    .transform((tags) => (tags === undefined ? undefined : [tags].flat().flatMap((t) => t.split(',')))),
  first: z.coerce.number().int().min(1).max(100).optional(),
  after: z.string().max(256).optional(),
})

const timesheetListQuery = z.object({
  status: text,
  /** The seed's name of status. */
  approvalStatus: text,
  projectId: text,
  projectCode: text,
  userName: text,
  keyword: text,
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})

export function registerPmRoutes(
  app: HttpServer,
  deps: PmDeps,
): {notifyChange(): void; commands: PmCommands} {
  const {telemetry} = deps
  const now = deps.now ?? (() => new Date())
  const commands = createPmCommands({
    store: deps.store,
    publisher: deps.publisher,
    metricsHub: deps.metricsHub,
    metricsCacheMs: deps.metricsCacheMs,
    idempotencyStats: deps.idempotencyStats,
    now,
    ...(deps.attachments ? {attachments: deps.attachments} : {}),
  })
  registerCors(app, deps.corsOrigins ?? localOrigins)
  registerPmGraphql(app, commands, {graphiql: deps.graphiql ?? false})

  app.get('/api/v1/projects', async (request) =>
    commands.listProjects(parseInput(projectListQuery, request.query)),
  )

  app.post('/api/v1/projects', async (request, reply) => {
    const result = await commands.createProject(request.body, idempotencyKeyOf(request))
    if (result.idempotent) return {ok: true, item: result.item, idempotent: true}
    reply.code(201)
    return {ok: true, item: result.item, eventId: result.eventId}
  })

  // The seed's cancel is its own route, outside /api/v1; both close the project and publish.
  const cancel = async (request: {params: {id: string}} & Parameters<typeof idempotencyKeyOf>[0]) => {
    const result = await commands.cancelProject(request.params.id, idempotencyKeyOf(request))
    return {ok: true, ...result}
  }
  app.post<{Params: {id: string}}>('/api/v1/projects/:id/cancel', cancel)
  app.post<{Params: {id: string}}>('/projects/:id/cancel', cancel)

  app.post<{Params: {id: string; action: string}}>('/api/v1/projects/:id/:action', async (request) => {
    const item = await commands.projectAction(request.params.id, request.params.action)
    return {ok: true, item}
  })

  app.get('/api/v1/timesheets', async (request) => {
    const {status, approvalStatus, ...query} = parseInput(timesheetListQuery, request.query)
    const {limit, ...filter} = query
    const statusFilter = status ?? approvalStatus
    const all = commands.listTimesheets({...filter, status: statusFilter})
    const items = limit === undefined ? all : all.slice(-limit)
    return {
      items,
      meta: {
        total: all.length,
        returned: items.length,
        fetchedAt: now().toISOString(),
        fallback: false,
        status: statusFilter?.trim() || 'all',
      },
    }
  })

  app.post('/api/v1/timesheets', async (request, reply) => {
    const result = await commands.createTimesheet(request.body, idempotencyKeyOf(request))
    if (result.idempotent) return {ok: true, item: result.item, idempotent: true}
    reply.code(201)
    return {ok: true, item: result.item}
  })

  app.delete<{Params: {id: string}}>('/api/v1/timesheets/:id', async (request) => ({
    ok: true,
    item: await commands.deleteTimesheet(request.params.id),
  }))

  app.post<{Params: {id: string; action: string}}>('/api/v1/timesheets/:id/:action', async (request) => {
    const {id, action} = request.params
    const result = await commands.timesheetAction(id, action, request.body, idempotencyKeyOf(request))
    return {ok: true, ...result}
  })

  // The producer's hot path: a line per approval at info was a share of pm's CPU; errors still log.
  app.post('/timesheets/approve', {config: {quietLog: true}}, async (request, reply) => {
    const published = await commands.approveShortcut(
      request.body,
      idempotencyKeyOf(request) ?? crypto.randomUUID(),
    )
    reply.code(202)
    return {accepted: true, ...published}
  })

  app.get('/api/v1/compliance/invoices', async (request) =>
    commands.complianceInvoices(
      parseInput(invoiceQuery, withInvoiceAliases(request.query as Record<string, unknown>)),
    ),
  )

  app.get('/events/recent', async (request) => {
    const {limit} = parseInput(
      z.object({limit: z.coerce.number().int().min(1).max(500).default(20)}),
      request.query,
    )
    return {items: commands.recentEvents(limit)}
  })

  app.get('/metrics/summary', async (request) => {
    const {refresh} = parseInput(z.object({refresh: z.enum(['true', 'false']).optional()}), request.query)
    return commands.summary(refresh === 'true')
  })

  // The summary opens the stream, so its first line is `data:` (the seed's live smoke checks it).
  app.get('/metrics/stream', (request, reply) => {
    deps.metricsHub.attach(request, reply, {initial: {event: MESSAGE_EVENT, data: commands.summary(false)}})
  })

  app.post('/api/v1/telemetry/ui', async (request, reply) => {
    const waitSec = deps.telemetryLimiter?.take(request.socket.remoteAddress ?? '')
    if (waitSec !== undefined) {
      void reply.header('retry-after', String(waitSec))
      const {perSec, burst} = deps.telemetryLimiter as RateLimiter
      throw new HttpError(
        429,
        'rate_limited',
        `too much telemetry from this address (limit ${perSec}/s, burst ${burst}); retry in ${waitSec} s`,
        {retryAfterSec: waitSec},
      )
    }
    await telemetry.record(request.body, now(), {ip: request.ip})
    reply.code(204)
  })

  app.get('/health/telemetry', async () => telemetry.health())

  app.get('/api/v1/telemetry/ui', async (request) =>
    telemetry.query(request.query as Record<string, unknown>),
  )

  // Each event goes out under its own id, so a client resumes with Last-Event-ID (or, on its
  // first connect, ?lastEventId=) and first gets what it missed; the header wins because an
  // EventSource reconnects to the same URL with the header of the last event it saw.
  app.get('/api/v1/telemetry/ui/stream', (request, reply) => {
    const query = request.query as Record<string, unknown>
    const filter = parseQuery(query)
    const header = request.headers['last-event-id']
    const resumeFrom = parseLastEventId((Array.isArray(header) ? header[0] : header) ?? query.lastEventId)
    const client = deps.telemetryHub.attach(request, reply, {filter, lastEventId: resumeFrom?.toString()})
    if (resumeFrom === undefined) return
    const {resync, events} = telemetry.replay(resumeFrom, filter)
    // Under the client's own id, so that notice does not move where it resumes from.
    if (resync) deps.telemetryHub.send(client, telemetryStreamEvents.resync, resync, String(resumeFrom))
    for (const event of events)
      deps.telemetryHub.send(client, telemetryStreamEvents.event, event, String(event.id))
  })
  telemetry.onEvent((event) =>
    deps.telemetryHub.broadcast(
      telemetryStreamEvents.event,
      event,
      (client) => matchesSafely(event, client.filter),
      String(event.id),
    ),
  )

  app.post('/admin/reset', async (request) => {
    assertAdmin(request, deps.adminToken)
    await commands.reset(deps.seedFile)
    return {ok: true, reset: true}
  })

  return {notifyChange: commands.notifyChange, commands}
}

/** A filter that cannot be evaluated on an event does not match it; it never stops the broadcast. */
function matchesSafely(event: Parameters<typeof matches>[0], filter: Partial<TelemetryQuery>): boolean {
  try {
    return matches(event, filter)
  } catch {
    return false
  }
}
