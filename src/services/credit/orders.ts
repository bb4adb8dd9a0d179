import {z} from 'zod'
import {HttpError} from '../shared/http.js'

/**
 * Where an order stands with credit (the seed's state diagram, integration-spec 4.2.6):
 * `requested` — a re-application is published and waits for its decision; `approved` — within
 * the limit, or overridden; `onhold` — rejected, waiting for an operator (override, reapply or
 * revoke); `revoked` — an approval (or a hold) taken back.
 */
export type CreditStatus = 'requested' | 'approved' | 'onhold' | 'revoked'

export interface CreditOrder {
  orderId: string
  customerId?: string
  amount: number
  projectId?: string
  status: CreditStatus
  /**
   * Counts the order's changes. The events of an operator's action carry it in their
   * idempotency key, so a request retried after a crash that lost the change publishes the same
   * key again, and fi applies it once.
   */
  version: number
  updatedAt: string
  approver?: string
  reason?: string
}

export interface CreditState {
  orders: Record<string, CreditOrder>
}

const creditOrderSchema = z.object({
  orderId: z.string(),
  customerId: z.string().optional(),
  amount: z.number(),
  projectId: z.string().optional(),
  status: z.enum(['requested', 'approved', 'onhold', 'revoked']),
  version: z.number().int().nonnegative(),
  updatedAt: z.string(),
  approver: z.string().optional(),
  reason: z.string().optional(),
})

const creditStateSchema = z.object({orders: z.record(z.string(), creditOrderSchema)})

export function asCreditState(value: unknown): CreditState | undefined {
  const parsed = creditStateSchema.safeParse(value)
  return parsed.success ? parsed.data : undefined
}

export type CreditDecision = 'approved' | 'rejected'

/** The seed's rule: an order up to the limit (inclusive) is approved. */
export function decide(amount: number, limit: number): CreditDecision {
  return amount <= limit ? 'approved' : 'rejected'
}

export type CreditAction = 'reapply' | 'override' | 'revoke'

/**
 * What an operator may do in each state. A decision that is pending (`requested`) is left to
 * arrive first; an approved order is not approved again, a revoked one not revoked again.
 */
export const allowedFrom: Record<CreditAction, readonly CreditStatus[]> = {
  reapply: ['onhold', 'revoked'],
  override: ['onhold', 'revoked'],
  revoke: ['approved', 'onhold'],
}

/** The order an action applies to: 404 `order_not_found`, or 409 `action_not_allowed` in its state. */
export function checkAction(state: CreditState, orderId: string, action: CreditAction): CreditOrder {
  const order = Object.hasOwn(state.orders, orderId) ? state.orders[orderId] : undefined
  if (!order) {
    throw new HttpError(
      404,
      'order_not_found',
      `credit knows no order ${orderId}: confirm it first (POST /sales/orders/confirm), or wait for its decision`,
    )
  }
  const allowed = allowedFrom[action]
  if (!allowed.includes(order.status)) {
    const pending = order.status === 'requested' ? ': its decision is pending, retry in a moment' : ''
    throw new HttpError(
      409,
      'action_not_allowed',
      `cannot ${action} order ${orderId}, it is ${order.status}${pending} (${action} needs ${allowed.join(' or ')})`,
      {status: order.status, allowed},
    )
  }
  return order
}

/** Records a decision made for a confirmed order or a re-application. */
export function recordDecision(
  state: CreditState,
  order: {orderId: string; customerId?: string; amount: number; projectId?: string},
  decision: CreditDecision,
  reason: string,
  at: Date,
): CreditOrder {
  const before = Object.hasOwn(state.orders, order.orderId) ? state.orders[order.orderId] : undefined
  const next: CreditOrder = {
    orderId: order.orderId,
    customerId: order.customerId ?? before?.customerId,
    amount: order.amount,
    projectId: order.projectId ?? before?.projectId,
    status: decision === 'approved' ? 'approved' : 'onhold',
    version: (before?.version ?? 0) + 1,
    updatedAt: at.toISOString(),
    reason,
  }
  state.orders[order.orderId] = next
  return next
}

/** The state an action puts the order in (a re-application waits for its decision). */
export const actionStatus: Record<CreditAction, CreditStatus> = {
  reapply: 'requested',
  override: 'approved',
  revoke: 'revoked',
}

/**
 * Applies an operator's action, checked with checkAction (at `version`) before its event was
 * published. When the order changed meanwhile, the change stands: it came after the event (a
 * re-application's own decision can be recorded before the route gets back to record the request).
 */
export function recordAction(
  state: CreditState,
  orderId: string,
  action: CreditAction,
  change: {amount?: number; customerId?: string; approver?: string; reason: string; version: number},
  at: Date,
): CreditOrder {
  const before = Object.hasOwn(state.orders, orderId) ? state.orders[orderId] : undefined
  if (!before) throw new HttpError(404, 'order_not_found', `order ${orderId} was reset meanwhile`)
  if (before.version !== change.version) return before
  const next: CreditOrder = {
    ...before,
    customerId: change.customerId ?? before.customerId,
    amount: change.amount ?? before.amount,
    status: actionStatus[action],
    version: before.version + 1,
    updatedAt: at.toISOString(),
    reason: change.reason,
  }
  if (action === 'override' && change.approver !== undefined) next.approver = change.approver
  else delete next.approver
  state.orders[orderId] = next
  return next
}

/** The idempotency key of the event an action publishes, from the order's version before it. */
export function actionKey(action: CreditAction, order: CreditOrder): string {
  return `credit-${action}:${order.orderId}:${order.version}`
}
