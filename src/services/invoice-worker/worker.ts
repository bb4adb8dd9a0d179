import {createHash} from 'node:crypto'
import {z} from 'zod'
import type {Delivery, HandlerOutcome, PublishRequest, PublishResult} from '../shared/bus.js'
import {exchanges, forcedFailureHeader, redrivenHeader} from '../../contract/topology.js'
import {type Envelope, makeEnvelope, timesheetApprovedType} from '../../contract/envelope.js'
import type {Logger} from '../shared/logger.js'

export const approvedType = timesheetApprovedType
export const invoiceGeneratedType = 'fi.invoice.generated'

const approvedPayload = z.object({
  timesheetId: z.string().min(1),
  hours: z.number().finite().nonnegative().optional(),
  projectCode: z.string().optional(),
  userName: z.string().optional(),
  note: z.string().optional(),
  // The seed's fields (its flat messages, and pm's beside the envelope), kept on the invoice as sent.
  employeeId: z.string().optional(),
  projectId: z.string().optional(),
  rateType: z.string().optional(),
  attachmentUrl: z.string().optional(),
})

/** What fi and pm learn about an invoice draft (payload of fi.invoice.generated). */
export interface InvoiceDraft {
  invoiceId: string
  timesheetId: string
  projectCode?: string
  userName?: string
  hours?: number
  amount: number
  currency: string
  status: 'draft'
  note?: string
  employeeId?: string
  projectId?: string
  rateType?: string
  attachmentUrl?: string
  /** How the approval arrived: our envelope, or the seed's flat message. */
  approvalFormat: Delivery['format']
  /** The approval this invoice bills: its event, idempotency key and time. */
  approvedEventId: string
  idempotencyKey: string
  approvedAt: string
  generatedAt: string
  /** Worker wall clock in ms with sub-ms precision: orders the invoices of one shard as processed. */
  processedAtMs: number
}

/**
 * The invoice id is a function of the timesheet and the approval's idempotency key, so a
 * redelivery after a crash, or a second message for the same approval, names the same
 * invoice and fi's upsert keeps exactly one (SPEC §3: the effect itself is idempotent).
 */
export function invoiceIdFor(timesheetId: string, idempotencyKey: string): string {
  const digest = createHash('sha256').update(`${timesheetId}\n${idempotencyKey}`).digest('hex')
  return `INV-${digest.slice(0, 16).toUpperCase()}`
}

export const workerOutcomes = ['generated', 'skipped', 'dead'] as const
export type WorkerOutcome = (typeof workerOutcomes)[number]

export interface WorkerDeps {
  idempotency: {seen(key: string): Promise<boolean>; remember(key: string): Promise<void>}
  publish(request: PublishRequest): Promise<PublishResult>
  logger: Logger
  /** Share of messages rejected to the dead-letter queue (0–1), for DLQ drills. */
  failRate: number
  hourlyRate: number
  currency: string
  random?: () => number
  now?: () => number
  /** Called once per message handled; `latencyMs` (now − occurredAt) for a generated invoice. */
  onOutcome?: (outcome: WorkerOutcome, latencyMs?: number) => void
}

/**
 * The seed's consumer as a bus handler: dedupe by idempotency key, create the invoice draft,
 * publish fi.invoice.generated (durable before the ack), remember the key, acknowledge.
 *
 * A seed flat message arrives here already read as an envelope (parseMessage), so both shapes
 * are invoiced alike: the id from the timesheet and idempotency key, the amount hours × the
 * hourly rate (whatever its rateType: the seed names the type but prices none; its consumer
 * computes no amount at all).
 */
export function invoiceHandler(deps: WorkerDeps) {
  const random = deps.random ?? Math.random
  const now = deps.now ?? (() => performance.timeOrigin + performance.now())
  const log = deps.logger

  return async (envelope: Envelope, delivery: Delivery): Promise<HandlerOutcome> => {
    const dead = (reason: string): HandlerOutcome => {
      log.warn({eventId: envelope.eventId, queue: delivery.queue, reason}, `dead-lettered: ${reason}`)
      deps.onOutcome?.('dead')
      return 'dead'
    }
    if (envelope.type !== approvedType) return dead(`unexpected event type ${envelope.type}`)
    const parsed = approvedPayload.safeParse(envelope.payload)
    if (!parsed.success) return dead(`invalid payload: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
    if (deps.failRate > 0 && random() < deps.failRate)
      return dead(`simulated failure (FAIL_RATE=${deps.failRate})`)
    if (delivery.headers[forcedFailureHeader] === 'until-redriven' && !delivery.headers[redrivenHeader])
      return dead(`forced failure (${forcedFailureHeader}: until-redriven)`)

    const approval = parsed.data
    const key = envelope.idempotencyKey
    if (await deps.idempotency.seen(key)) {
      log.info(
        {eventId: envelope.eventId, idempotencyKey: key, timesheetId: approval.timesheetId},
        `invoice skipped (duplicate idempotency key ${key}) for ${approval.timesheetId}`,
      )
      deps.onOutcome?.('skipped')
      return 'ack'
    }

    const invoiceId = invoiceIdFor(approval.timesheetId, key)
    const processedAtMs = now()
    const hours = approval.hours
    const draft: InvoiceDraft = {
      invoiceId,
      timesheetId: approval.timesheetId,
      projectCode: approval.projectCode,
      userName: approval.userName,
      hours,
      amount: Math.round((hours ?? 0) * deps.hourlyRate),
      currency: deps.currency,
      status: 'draft',
      note: approval.note,
      employeeId: approval.employeeId,
      projectId: approval.projectId,
      rateType: approval.rateType,
      attachmentUrl: approval.attachmentUrl,
      approvalFormat: delivery.format,
      approvedEventId: envelope.eventId,
      idempotencyKey: key,
      approvedAt: envelope.occurredAt,
      generatedAt: new Date(processedAtMs).toISOString(),
      processedAtMs,
    }
    const event = makeEnvelope({
      type: invoiceGeneratedType,
      key: approval.timesheetId,
      // A republished draft (after a crash before the ack) carries the same key: consumers skip it.
      idempotencyKey: `${invoiceGeneratedType}:${invoiceId}`,
      payload: draft,
      tenantId: envelope.tenantId,
    })
    // Durable (confirmed, or in the outbox) before the approval is acknowledged.
    await deps.publish({exchange: exchanges.domain, routingKey: invoiceGeneratedType, envelope: event})
    // Remembered after the work, but the ack does not wait for Redis's answer: that round trip
    // was one of the few each message of a shard waits for in turn (prefetch 1). A key Redis
    // failed to keep only means a later copy of this approval publishes the same invoice id
    // again, which fi and pm keep once; a copy right behind it is checked after the SET, on the
    // same connection.
    deps.idempotency
      .remember(key)
      .catch((error: unknown) =>
        log.warn(
          {err: error, idempotencyKey: key, invoiceId},
          'could not remember the idempotency key; a copy of this approval would name the same invoice again',
        ),
      )
    const latencyMs = Math.max(Math.round(now() - Date.parse(envelope.occurredAt)), 0)
    log.info(
      {
        invoiceId,
        timesheetId: approval.timesheetId,
        eventId: envelope.eventId,
        latencyMs,
        shardQueue: delivery.queue,
        format: delivery.format,
      },
      `invoice generated ${invoiceId} for ${approval.timesheetId} latency=${latencyMs}`,
    )
    deps.onOutcome?.('generated', latencyMs)
    return 'ack'
  }
}
