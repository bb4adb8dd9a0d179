import {z} from 'zod'
import {type HandlerOutcome, type PublishRequest, type PublishResult} from '../shared/bus.js'
import {exchanges} from '../../contract/topology.js'
import {type Envelope, makeEnvelope} from '../../contract/envelope.js'
import type {Logger} from '../shared/logger.js'

export const creditApprovedType = 'sales.credit.approved'
export const creditRejectedType = 'sales.credit.rejected'

const orderConfirmed = z.object({
  orderId: z.string().min(1),
  customerId: z.string().optional(),
  amount: z.number().finite(),
  projectId: z.string().optional(),
})

export type CreditDecision = 'approved' | 'rejected'

/** The seed's rule: an order up to the limit (inclusive) is approved. */
export function decide(amount: number, limit: number): CreditDecision {
  return amount <= limit ? 'approved' : 'rejected'
}

export interface CreditDeps {
  limit: number
  idempotency: {seen(key: string): Promise<boolean>; remember(key: string): Promise<void>}
  publish(request: PublishRequest): Promise<PublishResult>
  logger: Logger
  onDecision?: (decision: CreditDecision) => void
}

/** Publishes a decision to `domain`; an override is an approval with its approver. */
export async function publishDecision(
  publish: CreditDeps['publish'],
  decision: CreditDecision,
  payload: Record<string, unknown> & {orderId: string},
  idempotencyKey?: string,
): Promise<string> {
  const type = decision === 'approved' ? creditApprovedType : creditRejectedType
  const envelope = makeEnvelope({type, key: payload.orderId, payload, idempotencyKey})
  await publish({exchange: exchanges.domain, routingKey: type, envelope})
  return envelope.eventId
}

/** credit.inbox's handler: one decision per confirmed order, published before the ack. */
export function creditHandler(deps: CreditDeps) {
  return async (event: Envelope): Promise<HandlerOutcome> => {
    const parsed = orderConfirmed.safeParse(event.payload)
    if (!parsed.success) {
      deps.logger.warn(
        {eventId: event.eventId},
        'sales.order.confirmed without orderId and amount; dead-lettered',
      )
      return 'dead'
    }
    if (await deps.idempotency.seen(event.idempotencyKey)) {
      deps.logger.info({eventId: event.eventId, orderId: parsed.data.orderId}, 'decision skipped (duplicate)')
      return 'ack'
    }
    const order = parsed.data
    const decision = decide(order.amount, deps.limit)
    const reason =
      decision === 'approved' ? 'within credit limit' : `amount exceeds the credit limit of ${deps.limit}`
    // Derived from the order event's key: a decision republished after a crash is one fi already applied.
    const eventId = await publishDecision(
      deps.publish,
      decision,
      {...order, limit: deps.limit, reason},
      `credit-decision:${event.idempotencyKey}`,
    )
    await deps.idempotency.remember(event.idempotencyKey)
    deps.logger.info(
      {orderId: order.orderId, amount: order.amount, decision, eventId},
      `credit ${decision} for ${order.orderId}`,
    )
    deps.onDecision?.(decision)
    return 'ack'
  }
}
