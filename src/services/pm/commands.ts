import {z} from 'zod'
import type {Envelope, SeedApprovalFields} from '../../contract/envelope.js'
import {
  makeEnvelope,
  maxAttachmentUrlLength,
  maxHeaderValueLength,
  projectCancelledType,
  projectCreatedType,
  timesheetApprovedType,
  withSeedApprovalFields,
} from '../../contract/envelope.js'
import {exchanges} from '../../contract/topology.js'
import type {PublishRequest} from '../shared/bus.js'
import {parseInput} from '../shared/input.js'
import {MESSAGE_EVENT, type SseHub} from '../shared/sse.js'
import {
  addProject,
  applyProjectCancel,
  applyTimesheetAction,
  checkProjectCancel,
  checkTimesheetAction,
  countBy,
  createTimesheet,
  deleteTimesheet,
  findProject,
  listProjects,
  listTimesheets,
  type PmState,
  prepareProject,
  type Project,
  type ProjectQuery,
  projectAction,
  replayedTimesheet,
  type Timesheet,
  timesheetActionInput,
  type TimesheetQuery,
} from './domain.js'
import {type ComplianceInvoice, type InvoiceQuery, listInvoices} from './invoices.js'
import type {PmStore} from './store.js'

/**
 * Resolves once the event is durable (confirmed by the broker or kept in the outbox): approvals to
 * the shard of their key, project events to `domain`.
 */
export interface PmPublisher {
  publishToShard(envelope: Envelope): Promise<{shard: number}>
  publish(request: PublishRequest): Promise<unknown>
}

export interface PmCommandDeps {
  store: PmStore
  publisher: PmPublisher
  metricsHub: SseHub
  metricsCacheMs: number
  idempotencyStats: () => Record<string, number>
  now: () => Date
  /** USE_MINIO: the invoices' attachments as answered (presigned URLs); absent, invoices are answered as stored. */
  attachments?: {decorate(invoices: readonly ComplianceInvoice[]): Promise<ComplianceInvoice[]>}
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
  // poc produce --with-attachments: the payload it uploaded; it travels in the event as the seed's field.
  attachmentUrl: z.string().url().max(maxAttachmentUrlLength).optional(),
})

/** What the seed's pm-service puts in an approval it is told nothing about (its defaults). */
const seedDefaults = {employeeId: 'E-001', projectId: 'P-001', approvedBy: 'M-API', rateType: 'standard'}

type SeedFields = Omit<SeedApprovalFields, 'eventType' | 'timesheetId'>

export interface TimesheetActionResult {
  item: Timesheet
  eventId?: string
  shard?: number
  idempotent?: true
}

export interface ProjectCancelResult {
  item: Project
  eventId: string
  idempotent?: true
}

export type PmCommands = ReturnType<typeof createPmCommands>

/**
 * What pm does, once for every way in (REST, GraphQL): each change is persisted before it is
 * answered and refreshes the summary on /metrics/stream; whatever publishes an event publishes it
 * durably before the change is applied, under a per-entity lock, so a transition is one event.
 */
export function createPmCommands(deps: PmCommandDeps) {
  const {store, now} = deps
  let summaryCache: {value: Record<string, unknown>; at: number} | undefined

  /** GET /metrics/summary, the first event of /metrics/stream and GraphQL's metricsSummary. */
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
  const change = async <T>(fn: (state: PmState) => T): Promise<T> => {
    const result = await store.mutate(fn)
    notifyChange()
    return result
  }

  // A timesheet's transitions run one at a time: approve checks the state, publishes, then
  // applies, and another request slipping in between (a second approve with another key, a
  // reject) would leave an event for a transition that never happened, i.e. a second invoice.
  // Projects likewise for cancel, and creations one after another for their duplicate check.
  const timesheetLock = serialPerKey()
  const projectLock = serialPerKey()
  const creationLock = serialPerKey()

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

  const publishDomain = async (type: string, key: string, idempotencyKey: string, payload: object) => {
    const envelope = makeEnvelope({type, key, idempotencyKey, payload})
    await deps.publisher.publish({exchange: exchanges.domain, routingKey: type, envelope})
    return envelope.eventId
  }

  return {
    summary,
    notifyChange,

    listProjects: (query: ProjectQuery) => listProjects(store.current, query, now()),

    /** Creates a project and publishes pm.project.created; a known Idempotency-Key replays. */
    createProject: (input: unknown, idempotencyKey: string | undefined) =>
      creationLock('project', async (): Promise<{item: Project; idempotent: boolean; eventId?: string}> => {
        const prepared = prepareProject(store.current, input, idempotencyKey, now())
        if (prepared.idempotent) return prepared
        const {item} = prepared
        const eventId = await publishDomain(projectCreatedType, item.id, `${projectCreatedType}:${item.id}`, {
          projectId: item.id,
          projectCode: item.code,
          code: item.code,
          name: item.name,
          clientName: item.clientName,
          status: item.status,
          startOn: item.startOn,
          endOn: item.endOn,
          manager: item.manager,
          health: item.health,
          tags: item.tags,
        })
        await change((state) => addProject(state, item, idempotencyKey))
        return {item, idempotent: false, eventId}
      }),

    projectAction: async (idOrCode: string, action: string): Promise<Project> => {
      const {id} = findProject(store.current, idOrCode)
      return projectLock(id, () => change((state) => projectAction(state, id, action, now())))
    },

    /**
     * Cancel closes the project (from planned, active or on hold; 409 once closed) and publishes
     * pm.project.cancelled first. One cancellation has one idempotency key (the client's, else
     * `project-cancelled:<id>`): its replay answers the original event.
     */
    cancelProject: async (
      idOrCode: string,
      idempotencyKey: string | undefined,
    ): Promise<ProjectCancelResult> => {
      const {id} = findProject(store.current, idOrCode)
      const key = idempotencyKey ?? `project-cancelled:${id}`
      return projectLock(id, async () => {
        const current = findProject(store.current, id)
        if (current.cancelledAt && current.cancelKey === key && current.cancelEventId) {
          return {item: current, eventId: current.cancelEventId, idempotent: true}
        }
        const project = checkProjectCancel(store.current, id)
        const eventId = await publishDomain(projectCancelledType, id, key, {
          projectId: id,
          projectCode: project.code,
          name: project.name,
          previousStatus: project.status,
        })
        const item = await change((state) => applyProjectCancel(state, id, now(), {eventId, key}))
        return {item, eventId}
      })
    },

    listTimesheets: (query: TimesheetQuery) => listTimesheets(store.current, query),

    /** A known Idempotency-Key answers the timesheet it created. */
    createTimesheet: async (
      input: unknown,
      idempotencyKey: string | undefined,
    ): Promise<{item: Timesheet; idempotent: boolean}> => {
      const replay = replayedTimesheet(store.current, idempotencyKey)
      if (replay) return {item: replay, idempotent: true}
      const outcome = await store.mutate((state) => {
        const again = replayedTimesheet(state, idempotencyKey)
        return again
          ? {item: again, idempotent: true}
          : {item: createTimesheet(state, input, now(), idempotencyKey), idempotent: false}
      })
      if (!outcome.idempotent) notifyChange()
      return outcome
    },

    deleteTimesheet: (id: string) =>
      timesheetLock(id, () => change((state) => deleteTimesheet(state, id, now()))),

    /**
     * submit | approve | reject | resubmit with the seed's body (comment, reasonCode, hours,
     * rateType). `approve` publishes pm.timesheet.approved before it is applied; one approval of
     * one timesheet has one idempotency key (the client's, else `timesheet-approved:<id>`), so a
     * retried approve never bills twice and its replay answers the original event.
     */
    timesheetAction: async (
      id: string,
      action: string,
      body: unknown,
      idempotencyKey: string | undefined,
    ): Promise<TimesheetActionResult> => {
      const input = parseInput(timesheetActionInput, body)
      if (action !== 'approve') {
        return timesheetLock(id, async () => ({
          item: await change((state) => applyTimesheetAction(state, id, action, now(), {}, input)),
        }))
      }
      const key = idempotencyKey ?? `timesheet-approved:${id}`
      return timesheetLock(id, async () => {
        const current = store.current.timesheets.find((t) => t.id === id)
        if (current?.status === 'approved' && current.approvalKey === key && current.eventId) {
          return {item: current, eventId: current.eventId, shard: current.approvalShard, idempotent: true}
        }
        const {timesheet} = checkTimesheetAction(store.current, id, action)
        const hours = input.hours ?? timesheet.hours
        const note = input.comment || timesheet.note
        const published = await approve(
          id,
          key,
          {timesheetId: id, projectCode: timesheet.projectCode, hours, userName: timesheet.userName},
          {
            ...seedDefaults,
            employeeId: timesheet.employeeId,
            projectId: timesheet.projectId,
            rateType: input.rateType ?? timesheet.rateType,
            hours,
            note,
          },
        )
        const item = await change((state) =>
          applyTimesheetAction(
            state,
            id,
            action,
            now(),
            {eventId: published.eventId, approvalKey: key, approvalShard: published.shard},
            input,
          ),
        )
        return {item, ...published}
      })
    },

    /**
     * The seed's `POST /timesheets/approve`. Its producer sends one approval per message, also for
     * timesheets already approved (poc produce cycles TS-001…TS-010), so this publishes every
     * time; it moves a submitted timesheet to approved under the same lock as the API's approve,
     * so that transition is one event. An approval that changes nothing (the timesheet is not
     * submitted, and no change of it is under way) only publishes, without the lock: approvals of
     * one timesheet then share a group commit instead of each waiting for the fsync of the one
     * before (poc produce cycles ten timesheets, which held pm to ten approvals per commit). They
     * still reach the outbox, and so the broker, in the order they came.
     */
    approveShortcut: async (body: unknown, idempotencyKey: string) => {
      const {timesheetId, hours, note, employeeId, projectId, rateType, attachmentUrl} = parseInput(
        approveShortcut,
        body,
      )
      const current = store.current.timesheets.find((t) => t.id === timesheetId)
      const locked = current?.status === 'submitted' || timesheetLock.busy(timesheetId)
      const run = locked ? (fn: () => Promise<ApprovalPublished>) => timesheetLock(timesheetId, fn) : call
      return run(async () => {
        const known = store.current.timesheets.find((t) => t.id === timesheetId)
        const result = await approve(
          timesheetId,
          idempotencyKey,
          {timesheetId, hours, note, ...(attachmentUrl ? {attachmentUrl} : {})},
          {
            approvedBy: seedDefaults.approvedBy,
            employeeId: employeeId ?? known?.employeeId ?? seedDefaults.employeeId,
            projectId: projectId ?? known?.projectId ?? seedDefaults.projectId,
            rateType: rateType ?? seedDefaults.rateType,
            hours,
            note,
            attachmentUrl,
          },
        )
        if (known?.status === 'submitted') {
          await change((state) =>
            applyTimesheetAction(state, timesheetId, 'approve', now(), {
              eventId: result.eventId,
              approvalKey: idempotencyKey,
              approvalShard: result.shard,
            }),
          )
        }
        return result
      })
    },

    /** A page of invoices; with object storage, their attachments with fresh presigned URLs. */
    complianceInvoices: async (query: InvoiceQuery) => {
      const page = listInvoices(store.current.invoices, query, now())
      return deps.attachments ? {...page, items: await deps.attachments.decorate(page.items)} : page
    },

    recentEvents: (limit: number) => store.current.events.slice(-limit).reverse(),

    /** Back to the seed data (POST /admin/reset). */
    reset: async (seedFile: string) => {
      await store.reset(seedFile)
      notifyChange()
    },
  }
}

interface ApprovalPublished {
  eventId: string
  shard: number
}

const call = <T>(fn: () => Promise<T>): Promise<T> => fn()

/**
 * Runs the calls for one key one after another (calls for other keys are not held up); `busy`
 * tells whether a call for the key is queued or running.
 */
function serialPerKey(): (<T>(key: string, fn: () => Promise<T>) => Promise<T>) & {
  busy(key: string): boolean
} {
  const tails = new Map<string, Promise<unknown>>()
  const run = async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const previous = tails.get(key) ?? Promise.resolve()
    const result = previous.then(fn, fn)
    const tail = result.catch(() => undefined)
    tails.set(key, tail)
    try {
      return await result
    } finally {
      if (tails.get(key) === tail) tails.delete(key)
    }
  }
  return Object.assign(run, {busy: (key: string) => tails.has(key)})
}
