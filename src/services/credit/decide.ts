import {type HandlerOutcome, type PublishRequest, type PublishResult} from '../shared/bus.js'
import {exchanges} from '../../contract/topology.js'
import {type Envelope, makeEnvelope} from '../../contract/envelope.js'
import {type CreditPayload, orderEvents, orderPayloadSchema} from '../../contract/orders.js'
import type {Logger} from '../shared/logger.js'
import {type CreditDecision, type CreditOrder, type CreditState, decide, recordDecision} from './orders.js'

/** Credit's orders, persisted before a change is acknowledged (a StateFile, or memory in tests). */
export interface CreditStore {
  readonly current: Readonly<CreditState>
  mutate<R>(change: (state: CreditState) => R): Promise<R>
}

export interface CreditDeps {
  limit: number
  idempotency: {seen(key: string): Promise<boolean>; remember(key: string): Promise<void>}
  publish(request: PublishRequest): Promise<PublishResult>
  store: CreditStore
  logger: Logger
  onDecision?: (decision: CreditDecision) => void
}

/** Publishes one event of the order flow to `domain`, routed by its type, keyed by the order. */
export async function publishOrderEvent(
  publish: CreditDeps['publish'],
  type: string,
  payload: CreditPayload,
  idempotencyKey?: string,
): Promise<string> {
  const envelope = makeEnvelope({type, key: payload.orderId, payload, idempotencyKey})
  await publish({exchange: exchanges.domain, routingKey: type, envelope})
  return envelope.eventId
}

/**
 * credit.inbox's handler: one decision per confirmed order or re-application, published before
 * the ack. A rejection is followed by `sales.credit.onhold`, as the seed's credit-service does:
 * the order waits for an operator (override, reapply, revoke).
 */
export function creditHandler(deps: CreditDeps) {
  return async (event: Envelope): Promise<HandlerOutcome> => {
    const parsed = orderPayloadSchema.safeParse(event.payload)
    if (!parsed.success) {
      deps.logger.warn({eventId: event.eventId}, `${event.type} without an orderId; dead-lettered`)
      return 'dead'
    }
    if (await deps.idempotency.seen(event.idempotencyKey)) {
      deps.logger.info({eventId: event.eventId, orderId: parsed.data.orderId}, 'decision skipped (duplicate)')
      return 'ack'
    }
    const {orderId} = parsed.data
    const known = Object.hasOwn(deps.store.current.orders, orderId)
      ? deps.store.current.orders[orderId]
      : undefined
    // A re-application may leave the amount out: the order's own is decided again.
    const amount =
      parsed.data.amount ?? (event.type === orderEvents.creditRequested ? known?.amount : undefined)
    if (amount === undefined) {
      deps.logger.warn({eventId: event.eventId, orderId}, `${event.type} without an amount; dead-lettered`)
      return 'dead'
    }
    const order = {
      orderId,
      customerId: parsed.data.customerId ?? known?.customerId,
      amount,
      projectId: parsed.data.projectId ?? known?.projectId,
    }
    const decision = decide(amount, deps.limit)
    const reason =
      decision === 'approved' ? 'within credit limit' : `amount exceeds the credit limit of ${deps.limit}`
    const payload = withoutUndefined({...order, limit: deps.limit, reason})
    // Recorded first, so credit's state is never behind what fi shows; a crash before the
    // publish redelivers the event, which is decided and recorded again.
    const recorded: CreditOrder = await deps.store.mutate((state) =>
      recordDecision(state, order, decision, reason, new Date()),
    )
    // Derived from the incoming event's key: a decision republished after a crash is one fi already applied.
    const eventId = await publishOrderEvent(
      deps.publish,
      decision === 'approved' ? orderEvents.creditApproved : orderEvents.creditRejected,
      payload,
      `credit-decision:${event.idempotencyKey}`,
    )
    if (decision === 'rejected') {
      await publishOrderEvent(
        deps.publish,
        orderEvents.creditOnHold,
        payload,
        `credit-onhold:${event.idempotencyKey}`,
      )
    }
    await deps.idempotency.remember(event.idempotencyKey)
    deps.logger.info(
      {orderId, amount, decision, status: recorded.status, eventId, from: event.type},
      `credit ${decision} for ${orderId}${decision === 'rejected' ? ' (on hold)' : ''}`,
    )
    deps.onDecision?.(decision)
    return 'ack'
  }
}

export function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}
