import {z} from 'zod'
import type {Envelope, SeedApprovalFields} from '../../contract/envelope.js'
import {makeEnvelope, timesheetApprovedType, withSeedApprovalFields} from '../../contract/envelope.js'
import {assertAdmin, HttpError, type HttpServer} from '../shared/http.js'
import {idempotencyKeyOf} from '../shared/idempotency-key.js'
import {parseInput} from '../shared/input.js'
import type {RateLimiter} from '../shared/rate-limit.js'
import {MESSAGE_EVENT, type SseHub} from '../shared/sse.js'
import {
  applyTimesheetAction,
  checkTimesheetAction,
  countBy,
  createProject,
  createTimesheet,
  deleteTimesheet,
  type PmState,
  projectAction,
} from './domain.js'
import type {PmStore} from './store.js'
import {type TelemetryQuery, type TelemetryStore, matches, parseLastEventId, parseQuery} from './telemetry.js'
import {telemetryStreamEvents} from '../../contract/telemetry.js'
import {maxHeaderValueLength} from '../../contract/envelope.js'

/** Publishes to the shard of the envelope's key; resolves once the event is durable (confirmed or in the outbox). */
export interface ShardPublisher {
  publishToShard(envelope: Envelope): Promise<{shard: number}>
}

export interface PmDeps {
  store: PmStore
  telemetry: TelemetryStore
  publisher: ShardPublisher
  metricsHub: SseHub
  telemetryHub: SseHub<Partial<TelemetryQuery>>
  seedFile: string
  metricsCacheMs: number
  /** From $POC_HOME/secrets when configured: POST /admin/reset then needs it as a bearer token. */
  adminToken?: string
  idempotencyStats: () => Record<string, number>
  /** Telemetry POSTs per remote address; unlimited without one. */
  telemetryLimiter?: RateLimiter
  now?: () => Date
}

const seedField = z.string().trim().min(1).max(200).optional()

const approveShortcut = z.object({
  // It travels as the message's timesheetId header, and RabbitMQ closes a connection on a huge one.
  timesheetId: z.string().trim().min(1).max(maxHeaderValueLength),
  hours: z.number().gt(0).lte(24),
  note: z.string().max(100_000).optional(),
  // The seed's shortcut takes these too; they travel in the event's seed fields.
  employeeId: seedField,
  projectId: seedField,
  rateType: seedField,
})

/** What the seed's pm-service puts in an approval it is told nothing about (its defaults). */
const seedDefaults = {employeeId: 'E-001', projectId: 'P-001', approvedBy: 'M-API', rateType: 'standard'}

type SeedFields = Omit<SeedApprovalFields, 'eventType' | 'timesheetId'>

const listQuery = z.object({
  status: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})

const invoiceQuery = z.object({
  keyword: z.string().optional(),
  status: z.string().optional(),
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(10),
  sortBy: z.enum(['createdAt', 'invoiceId', 'timesheetId', 'status', 'amount']).default('createdAt'),
  sortDir: z.enum(['asc', 'desc']).default('desc'),
})

export function registerPmRoutes(app: HttpServer, deps: PmDeps): {notifyChange(): void} {
  const {store, telemetry} = deps
  const now = deps.now ?? (() => new Date())
  let summaryCache: {value: Record<string, unknown>; at: number} | undefined

  const summary = (refresh: boolean) => {
    const at = Date.now()
    if (refresh || !summaryCache || at - summaryCache.at > deps.metricsCacheMs) {
      const state = store.current
      summaryCache = {
        at,
        value: {
          projects: countBy(state.projects, (p) => p.status),
          timesheets: countBy(state.timesheets, (t) => t.status),
          invoices: countBy(state.invoices, (i) => i.status),
          events: state.events.length,
          idempotency: deps.idempotencyStats(),
        },
      }
    }
    return {
      ...summaryCache.value,
      cachedAt: new Date(summaryCache.at).toISOString(),
      cacheTtlMs: deps.metricsCacheMs,
      stale: at - summaryCache.at > deps.metricsCacheMs,
    }
  }

  /**
   * Every state change refreshes the summary and pushes it to /metrics/stream, as an unnamed event
   * (what EventSource's onmessage gets, as the seed's UI and live test read it).
   */
  const notifyChange = () => {
    deps.metricsHub.broadcast(MESSAGE_EVENT, summary(true))
  }
  const change = async <T>(fn: Parameters<PmStore['mutate']>[0]): Promise<T> => {
    const result = (await store.mutate(fn)) as T
    notifyChange()
    return result
  }

  const approve = async (
    timesheetId: string,
    idempotencyKey: string,
    payload: Record<string, unknown>,
    seed: SeedFields,
  ) => {
    // The seed's consumer reads an approval's fields at the top level: they go beside the envelope.
    const envelope = withSeedApprovalFields(
      makeEnvelope({type: timesheetApprovedType, key: timesheetId, idempotencyKey, payload}),
      {timesheetId, ...seed},
    )
    // Durable first (confirmed or kept in the outbox), then acknowledged to the client.
    const {shard} = await deps.publisher.publishToShard(envelope as Envelope)
    return {eventId: envelope.eventId, shard}
  }

  app.get('/api/v1/projects', async (request) => {
    const {status} = parseInput(listQuery, request.query)
    const items = store.current.projects.filter((p) => status === undefined || p.status === status)
    return {items, meta: {total: items.length, fetchedAt: now().toISOString()}}
  })

  app.post('/api/v1/projects', async (request, reply) => {
    const key = idempotencyKeyOf(request)
    const result = await change<ReturnType<typeof createProject>>((state) =>
      createProject(state, request.body, key, now()),
    )
    if (result.idempotent) return {ok: true, item: result.item, idempotent: true}
    reply.code(201)
    return {ok: true, item: result.item}
  })

  app.post<{Params: {id: string; action: string}}>('/api/v1/projects/:id/:action', async (request) => {
    const item = await change((state) =>
      projectAction(state, request.params.id, request.params.action, now()),
    )
    return {ok: true, item}
  })

  app.get('/api/v1/timesheets', async (request) => {
    const {status, limit} = parseInput(listQuery, request.query)
    const all = store.current.timesheets.filter((t) => status === undefined || t.status === status)
    const items = limit === undefined ? all : all.slice(-limit)
    return {items, meta: {total: all.length, fetchedAt: now().toISOString()}}
  })

  app.post('/api/v1/timesheets', async (request, reply) => {
    const item = await change((state) => createTimesheet(state, request.body, now()))
    reply.code(201)
    return {ok: true, item}
  })

  // A timesheet's transitions run one at a time: approve checks the state, publishes, then
  // applies, and another request slipping in between (a second approve with another key, a
  // reject) would leave an event for a transition that never happened, i.e. a second invoice.
  const oneAtATime = serialPerKey()

  app.delete<{Params: {id: string}}>('/api/v1/timesheets/:id', async (request) =>
    oneAtATime(request.params.id, async () => {
      const item = await change((state) => deleteTimesheet(state, request.params.id, now()))
      return {ok: true, item}
    }),
  )

  app.post<{Params: {id: string; action: string}}>('/api/v1/timesheets/:id/:action', async (request) => {
    const {id, action} = request.params
    if (action !== 'approve') {
      return oneAtATime(id, async () => {
        const item = await change((state) => applyTimesheetAction(state, id, action, now()))
        return {ok: true, item}
      })
    }
    // One approval of one timesheet has one idempotency key, so a retried approve never bills twice.
    const key = idempotencyKeyOf(request) ?? `timesheet-approved:${id}`
    return oneAtATime(id, async () => {
      const current = store.current.timesheets.find((t) => t.id === id)
      if (current?.status === 'approved' && current.approvalKey === key && current.eventId) {
        return {
          ok: true,
          item: current,
          eventId: current.eventId,
          shard: current.approvalShard,
          idempotent: true,
        }
      }
      const {timesheet} = checkTimesheetAction(store.current as PmState, id, action)
      const published = await approve(
        id,
        key,
        {
          timesheetId: id,
          projectCode: timesheet.projectCode,
          hours: timesheet.hours,
          userName: timesheet.userName,
        },
        {
          ...seedDefaults,
          employeeId: timesheet.userName,
          projectId: timesheet.projectId,
          hours: timesheet.hours,
          note: timesheet.note,
        },
      )
      const item = await change((state) =>
        applyTimesheetAction(state, id, action, now(), {
          eventId: published.eventId,
          approvalKey: key,
          approvalShard: published.shard,
        }),
      )
      return {ok: true, item, ...published}
    })
  })

  // The seed's producer sends one approval per message, also for timesheets already approved
  // (poc produce cycles TS-001…TS-010), so this publishes every time; it moves a submitted
  // timesheet to approved under the same lock as the API's approve, so that transition is one event.
  app.post('/timesheets/approve', async (request, reply) => {
    const body = parseInput(approveShortcut, request.body)
    const key = idempotencyKeyOf(request) ?? crypto.randomUUID()
    const {timesheetId, hours, note, employeeId, projectId, rateType} = body
    const published = await oneAtATime(timesheetId, async () => {
      const known = store.current.timesheets.find((t) => t.id === timesheetId)
      const result = await approve(
        timesheetId,
        key,
        {timesheetId, hours, note},
        {
          approvedBy: seedDefaults.approvedBy,
          employeeId: employeeId ?? known?.userName ?? seedDefaults.employeeId,
          projectId: projectId ?? known?.projectId ?? seedDefaults.projectId,
          rateType: rateType ?? seedDefaults.rateType,
          hours,
          note,
        },
      )
      if (known?.status === 'submitted') {
        await change((state) =>
          applyTimesheetAction(state, body.timesheetId, 'approve', now(), {
            eventId: result.eventId,
            approvalKey: key,
            approvalShard: result.shard,
          }),
        )
      }
      return result
    })
    reply.code(202)
    return {accepted: true, ...published}
  })

  app.get('/api/v1/compliance/invoices', async (request) => {
    const q = parseInput(invoiceQuery, request.query)
    const keyword = q.keyword?.toLowerCase()
    const filtered = store.current.invoices.filter(
      (i) =>
        (q.status === undefined || i.status === q.status) &&
        (keyword === undefined || JSON.stringify(i).toLowerCase().includes(keyword)),
    )
    const direction = q.sortDir === 'asc' ? 1 : -1
    filtered.sort((a, b) => direction * (String(a[q.sortBy] ?? '') < String(b[q.sortBy] ?? '') ? -1 : 1))
    const start = (q.page - 1) * q.pageSize
    return {
      meta: {
        total: filtered.length,
        page: q.page,
        pageSize: q.pageSize,
        totalPages: Math.ceil(filtered.length / q.pageSize),
        sortBy: q.sortBy,
        sortDir: q.sortDir,
      },
      items: filtered.slice(start, start + q.pageSize),
    }
  })

  app.get('/events/recent', async (request) => {
    const {limit} = parseInput(
      z.object({limit: z.coerce.number().int().min(1).max(500).default(20)}),
      request.query,
    )
    return {items: store.current.events.slice(-limit).reverse()}
  })

  app.get('/metrics/summary', async (request) => {
    const {refresh} = parseInput(z.object({refresh: z.enum(['true', 'false']).optional()}), request.query)
    return summary(refresh === 'true')
  })

  // The summary opens the stream, so its first line is `data:` (the seed's live smoke checks it).
  app.get('/metrics/stream', (request, reply) => {
    deps.metricsHub.attach(request, reply, {initial: {event: MESSAGE_EVENT, data: summary(false)}})
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
    await store.reset(deps.seedFile)
    notifyChange()
    return {ok: true, reset: true}
  })

  return {notifyChange}
}

/** Runs the calls for one key one after another (calls for other keys are not held up). */
function serialPerKey(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>()
  return async (key, fn) => {
    const previous = tails.get(key) ?? Promise.resolve()
    const run = previous.then(fn, fn)
    const tail = run.catch(() => undefined)
    tails.set(key, tail)
    try {
      return await run
    } finally {
      if (tails.get(key) === tail) tails.delete(key)
    }
  }
}

/** A filter that cannot be evaluated on an event does not match it; it never stops the broadcast. */
function matchesSafely(event: Parameters<typeof matches>[0], filter: Partial<TelemetryQuery>): boolean {
  try {
    return matches(event, filter)
  } catch {
    return false
  }
}
