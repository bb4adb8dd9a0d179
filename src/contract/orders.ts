import {z} from 'zod'

/*
 * The order-to-cash events between sales, credit and fi (the seed's sales-, credit- and
 * fi-service). Every one goes to the topic exchange `domain` with its type as routing key; a
 * consumer's inbox binds the types it reads:
 *
 * | type                           | published by                              | consumed by (inbox) |
 * | ------------------------------ | ----------------------------------------- | ------------------- |
 * | sales.order.confirmed          | sales, POST /sales/orders/confirm         | credit, fi          |
 * | sales.credit.requested         | credit, POST /credit/reapply              | credit              |
 * | sales.credit.approved          | credit, an order within CREDIT_LIMIT      | fi                  |
 * | sales.credit.rejected          | credit, an order over CREDIT_LIMIT        | fi                  |
 * | sales.credit.onhold            | credit, right after each rejection        | fi                  |
 * | sales.credit.override.approved | credit, POST /credit/override             | fi                  |
 * | sales.credit.revoked           | credit, POST /credit/revoke               | fi                  |
 * | fi.budget.allocated            | fi, once an approved order has a project  | (pm, BI in the seed)|
 */
export const orderEvents = {
  orderConfirmed: 'sales.order.confirmed',
  creditRequested: 'sales.credit.requested',
  creditApproved: 'sales.credit.approved',
  creditRejected: 'sales.credit.rejected',
  creditOnHold: 'sales.credit.onhold',
  creditOverrideApproved: 'sales.credit.override.approved',
  creditRevoked: 'sales.credit.revoked',
  budgetAllocated: 'fi.budget.allocated',
} as const

/** `sales.order.confirmed`, and `sales.credit.requested` (a re-application: amount optional, the order's is taken). */
export const orderPayloadSchema = z.object({
  orderId: z.string().min(1),
  customerId: z.string().optional(),
  amount: z.number().finite().optional(),
  projectId: z.string().optional(),
})
export type OrderPayload = z.infer<typeof orderPayloadSchema>

/** Every `sales.credit.*` decision: the order's fields and why. */
export const creditPayloadSchema = orderPayloadSchema.extend({
  approver: z.string().optional(),
  reason: z.string().optional(),
  /** Set on an override (also on the `sales.credit.approved` an older credit published for one). */
  override: z.boolean().optional(),
  limit: z.number().optional(),
})
export type CreditPayload = z.infer<typeof creditPayloadSchema>

/** `fi.budget.allocated`: the seed's fields (orderId, projectId, amount). */
export const budgetAllocatedPayloadSchema = z.object({
  orderId: z.string().min(1),
  projectId: z.string().min(1),
  amount: z.number().finite(),
  customerId: z.string().optional(),
})
export type BudgetAllocatedPayload = z.infer<typeof budgetAllocatedPayloadSchema>

/**
 * The idempotency key of fi's one `fi.budget.allocated` per order: a republish after a crash
 * carries the same key, so a consumer takes it once.
 */
export function budgetAllocatedKey(orderId: string): string {
  return `fi-budget-allocated:${orderId}`
}
