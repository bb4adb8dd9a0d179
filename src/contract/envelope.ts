import {randomUUID} from 'node:crypto'
import {datetimeRegex, z} from 'zod'

/** Every event on the bus travels in this envelope (SPEC §3). */
export interface Envelope<P = Record<string, unknown>> {
  eventId: string
  type: string
  occurredAt: string
  tenantId: string
  /** What orders and shards the event, e.g. the timesheetId. */
  key: string
  /** What a consumer deduplicates on: a retried request keeps it, a new event gets a new one. */
  idempotencyKey: string
  payload: P
}

export const defaultTenantId = 'default'

export const timesheetApprovedType = 'pm.timesheet.approved'

/**
 * pm's project events, on the topic exchange `domain` with the type as routing key (SPEC §3's
 * other domain events). The seed's pm-service put them on the `events` shards, where our
 * invoice-worker would dead-letter them as no approval.
 */
export const projectCreatedType = 'pm.project.created'
export const projectCancelledType = 'pm.project.cancelled'

/**
 * An ISO 8601 time with Z or an offset: zod's `.datetime({offset: true})`, whose check builds its
 * RegExp anew on every parse (zod 3), which was a visible share of every message a consumer read.
 */
const isoDateTime = datetimeRegex({offset: true, local: false, precision: null})
export const dateTimeString = () => z.string().regex(isoDateTime, 'Invalid datetime')

/** Checks what arrives from the broker: anything else is dead-lettered, never handled. */
export const envelopeSchema = z.object({
  eventId: z.string().min(1),
  type: z.string().min(1),
  occurredAt: dateTimeString(),
  tenantId: z.string().min(1),
  key: z.string(),
  idempotencyKey: z.string().min(1),
  payload: z.record(z.string(), z.unknown()),
})

export interface NewEvent<P> {
  type: string
  key: string
  payload: P
  /** Defaults to the new eventId, so redeliveries of this one event are recognised. */
  idempotencyKey?: string
  tenantId?: string
}

export function makeEnvelope<P extends object>(event: NewEvent<P>): Envelope<P> {
  const eventId = randomUUID()
  return {
    eventId,
    type: event.type,
    occurredAt: new Date().toISOString(),
    tenantId: event.tenantId ?? defaultTenantId,
    key: event.key,
    idempotencyKey: event.idempotencyKey ?? eventId,
    payload: event.payload,
  }
}

/**
 * The seed's approval message (itdojp/ITDO_ERP3, poc/event-backbone/local): every field at the
 * top level and no payload. Its producer sends it without `eventType`; its pm-service adds
 * `eventType: "pm.timesheet.approved"`. Both put `idempotencyKey` and `timesheetId` in the
 * headers too, and the message id is the eventId.
 */
export const seedApprovalSchema = z.object({
  eventId: z.string().min(1).optional(),
  eventType: z.string().min(1).optional(),
  occurredAt: dateTimeString(),
  tenantId: z.string().min(1).optional(),
  timesheetId: z.string().min(1),
  hours: z.number().finite().nonnegative().optional(),
  note: z.string().optional(),
  employeeId: z.string().optional(),
  projectId: z.string().optional(),
  approvedBy: z.string().optional(),
  rateType: z.string().optional(),
  attachmentUrl: z.string().optional(),
  idempotencyKey: z.string().min(1).optional(),
})
export type SeedApproval = z.infer<typeof seedApprovalSchema>

/** How a message reached us: in our envelope, or flat as the seed's producer and pm send it. */
export type MessageFormat = 'envelope' | 'seed-flat'

export interface MessageProperties {
  messageId?: string
  headers?: Record<string, unknown>
}

export type ParsedMessage =
  {ok: true; envelope: Envelope; format: MessageFormat} | {ok: false; reason: string}

/**
 * What a consumer makes of a message's body (JSON): our envelope as it is, or the seed's flat
 * approval as the envelope it means. A body with a `payload` is taken for an envelope, so an
 * envelope that is broken is reported as such, not as a bad flat message.
 *
 * A flat message's idempotency key is its `idempotencyKey`, else the header of that name (the
 * seed's consumer reads them in that order), else its eventId or message id: a flat message and
 * its redelivery, or a copy published again with the same key, name the same approval and so
 * the same invoice.
 */
export function parseMessage(content: Buffer | string, properties: MessageProperties = {}): ParsedMessage {
  let body: unknown
  try {
    body = JSON.parse(content.toString())
  } catch (error) {
    return {ok: false, reason: `the body is not JSON (${(error as Error).message})`}
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return {ok: false, reason: 'the body is not a JSON object'}
  }
  if ('payload' in body) {
    const parsed = envelopeSchema.safeParse(body)
    return parsed.success
      ? {ok: true, envelope: parsed.data, format: 'envelope'}
      : {ok: false, reason: `not a valid event envelope: ${firstIssue(parsed.error)}`}
  }
  const parsed = seedApprovalSchema.safeParse(body)
  if (!parsed.success) {
    return {
      ok: false,
      reason: `neither an event envelope nor the seed's flat message: ${firstIssue(parsed.error)}`,
    }
  }
  const flat = parsed.data
  const header = properties.headers?.idempotencyKey
  const messageId = nonEmpty(properties.messageId)
  const idempotencyKey = flat.idempotencyKey ?? nonEmpty(header) ?? flat.eventId ?? messageId
  const eventId = flat.eventId ?? messageId ?? idempotencyKey
  if (idempotencyKey === undefined || eventId === undefined) {
    return {
      ok: false,
      reason: "the seed's flat message has no idempotencyKey or eventId (body, header or message id)",
    }
  }
  const {timesheetId, hours, note, employeeId, projectId, approvedBy, rateType, attachmentUrl} = flat
  const payload = Object.fromEntries(
    Object.entries({
      timesheetId,
      hours,
      note,
      employeeId,
      projectId,
      approvedBy,
      rateType,
      attachmentUrl,
    }).filter(([, value]) => value !== undefined),
  )
  return {
    ok: true,
    format: 'seed-flat',
    envelope: {
      eventId,
      // The seed's producer publishes nothing but approvals to `events`, and says so nowhere.
      type: flat.eventType ?? timesheetApprovedType,
      occurredAt: flat.occurredAt,
      tenantId: flat.tenantId ?? defaultTenantId,
      key: timesheetId,
      idempotencyKey,
      payload,
    },
  }
}

/** The seed's top-level fields of an approval, which its consumer reads (it knows no payload). */
export interface SeedApprovalFields {
  eventType: string
  timesheetId: string
  hours?: number
  employeeId: string
  projectId: string
  approvedBy: string
  rateType: string
  note?: string
  /** Where the approval's large payload is kept in object storage (the seed producer's field). */
  attachmentUrl?: string
}

/** The longest attachmentUrl an approval takes: a presigned URL is ~600 characters. */
export const maxAttachmentUrlLength = 4096

/**
 * Our approval envelope with the seed's fields beside it, so that the seed's consumer (or any
 * script of its) reading what pm publishes finds `timesheetId`, `hours`, … at the top level; it
 * finds `eventId`, `occurredAt`, `tenantId` and `idempotencyKey` there already. Our consumers read
 * the envelope and ignore the rest.
 */
export function withSeedApprovalFields<P extends object>(
  envelope: Envelope<P>,
  fields: Omit<SeedApprovalFields, 'eventType'>,
): Envelope<P> & SeedApprovalFields {
  const extra = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))
  return {...envelope, eventType: envelope.type, ...(extra as Omit<SeedApprovalFields, 'eventType'>)}
}

/**
 * The AMQP headers of a message: `idempotencyKey` and `type` (SPEC §3), and `timesheetId` for a
 * message that carries the seed's top-level one, as the seed's producer and pm-service set it.
 */
/**
 * The longest value poc puts in a message header. An AMQP header frame must fit in one frame
 * (128 KiB by default): a longer one makes RabbitMQ close the publisher's connection, and the
 * message would stay first in its outbox for ever.
 */
export const maxHeaderValueLength = 256

export function messageHeaders(envelope: Envelope<object>): Record<string, string> {
  const headers: Record<string, string> = {idempotencyKey: envelope.idempotencyKey, type: envelope.type}
  const timesheetId = (envelope as {timesheetId?: unknown}).timesheetId
  if (typeof timesheetId === 'string' && timesheetId.length <= maxHeaderValueLength) {
    headers.timesheetId = timesheetId
  }
  return headers
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]
  if (!issue) return 'invalid'
  return issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message
}
