import {randomUUID} from 'node:crypto'
import {z} from 'zod'

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

/** Checks what arrives from the broker: anything else is dead-lettered, never handled. */
export const envelopeSchema = z.object({
  eventId: z.string().min(1),
  type: z.string().min(1),
  occurredAt: z.string().datetime({offset: true}),
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
