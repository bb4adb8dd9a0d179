import {z} from 'zod'
import {type Envelope, envelopeSchema} from '../../contract/envelope.js'
import {
  type BudgetAllocatedPayload,
  creditPayloadSchema,
  orderEvents,
  orderPayloadSchema,
} from '../../contract/orders.js'

/** What fi keeps of one processed event (a line of its journal). */
export interface JournalEntry {
  event: Envelope
  projectedAt: string
  /** Looked up in pm when the invoice was projected; kept so that a rebuild gives the same answer. */
  project?: {projectName?: string; clientName?: string}
}

export const journalEntrySchema = z.object({
  event: envelopeSchema,
  projectedAt: z.string(),
  project: z.object({projectName: z.string().optional(), clientName: z.string().optional()}).optional(),
})

const invoicePayload = z
  .object({
    invoiceId: z.string().min(1),
    timesheetId: z.string().min(1),
    amount: z.number().finite(),
    status: z.string().default('draft'),
    generatedAt: z.string().optional(),
    approvedAt: z.string().optional(),
  })
  .passthrough()

export type FiInvoice = z.infer<typeof invoicePayload> & {
  projectName?: string
  clientName?: string
  /** When fi made it visible: the end of the approve → invoice path. */
  projectedAt: string
}

/**
 * The seed's fi values (approved, rejected, unknown, and revoked); an order on hold after a
 * rejection stays `rejected`, with `onhold: true`, as the seed's fi shows it.
 */
export type CreditState = 'approved' | 'rejected' | 'revoked' | 'unknown'

export interface OrderView {
  orderId: string
  credit: CreditState
  confirmed: boolean
  /** Rejected and waiting for an operator (sales.credit.onhold), until the next decision. */
  onhold: boolean
  /** fi.budget.allocated was published for it: credit approved and a project known (once per order). */
  budgetAllocated: boolean
  customerId?: string
  amount?: number
  projectId?: string
  decidedAt?: string
  approver?: string
  reason?: string
  override?: boolean
  revokedAt?: string
  budgetAmount?: number
  budgetAllocatedAt?: string
}

/** The events fi.inbox is bound to. */
export const fiEventTypes = [
  'fi.invoice.generated',
  orderEvents.orderConfirmed,
  orderEvents.creditApproved,
  orderEvents.creditRejected,
  orderEvents.creditOnHold,
  orderEvents.creditOverrideApproved,
  orderEvents.creditRevoked,
] as const

const payloadSchemas: Record<string, z.ZodTypeAny> = {
  'fi.invoice.generated': invoicePayload,
  [orderEvents.orderConfirmed]: orderPayloadSchema,
  [orderEvents.creditApproved]: creditPayloadSchema,
  [orderEvents.creditRejected]: creditPayloadSchema,
  [orderEvents.creditOnHold]: creditPayloadSchema,
  [orderEvents.creditOverrideApproved]: creditPayloadSchema,
  [orderEvents.creditRevoked]: creditPayloadSchema,
}

function hasKeyPrefix(invoice: FiInvoice, keyPrefix: string): boolean {
  return String(invoice.idempotencyKey ?? '').startsWith(keyPrefix)
}

function unknownOrder(orderId: string): OrderView {
  return {orderId, credit: 'unknown', confirmed: false, onhold: false, budgetAllocated: false}
}

/**
 * An order's view after one of its events (pure, so fi can tell before journaling an event
 * whether it allocates the budget). A decision older than the one recorded changes nothing,
 * so events applied out of publish order end the same. The budget is allocated once, when the
 * order is approved, has a project and an amount (the seed's join of credit and project); a
 * revocation later does not take it back.
 */
export function nextOrderView(view: OrderView, event: Envelope, projectedAt: string): OrderView {
  const next: OrderView = {...view}
  if (event.type === orderEvents.orderConfirmed) {
    const order = orderPayloadSchema.parse(event.payload)
    next.confirmed = true
    if (order.customerId !== undefined) next.customerId = order.customerId
    if (order.amount !== undefined) next.amount = order.amount
    if (order.projectId !== undefined) next.projectId = order.projectId
  } else {
    const decision = creditPayloadSchema.parse(event.payload)
    if (view.decidedAt !== undefined && view.decidedAt > event.occurredAt) return view
    next.decidedAt = event.occurredAt
    next.reason = decision.reason
    if (decision.customerId !== undefined) next.customerId ??= decision.customerId
    if (decision.projectId !== undefined) next.projectId ??= decision.projectId
    // The time of a revocation is kept while it stands.
    if (event.type !== orderEvents.creditRevoked) delete next.revokedAt
    switch (event.type) {
      case orderEvents.creditRevoked: {
        next.credit = 'revoked'
        next.onhold = false
        next.revokedAt = event.occurredAt
        break
      }
      case orderEvents.creditOnHold: {
        next.credit = 'rejected'
        next.onhold = true
        break
      }
      default: {
        const approved = event.type !== orderEvents.creditRejected
        next.credit = approved ? 'approved' : 'rejected'
        // A rejection's hold comes as its own event, which may be applied first.
        if (approved) next.onhold = false
        next.approver = decision.approver
        next.override = event.type === orderEvents.creditOverrideApproved ? true : decision.override
        if (decision.amount !== undefined) next.amount = decision.amount
      }
    }
  }
  if (!next.budgetAllocated && next.credit === 'approved' && next.projectId && next.amount !== undefined) {
    next.budgetAllocated = true
    next.budgetAmount = next.amount
    next.budgetAllocatedAt = projectedAt
  }
  return next
}

/** The event's payload checked against its type's schema; undefined for a type fi does not project. */
function parsePayload(event: Envelope): z.SafeParseReturnType<unknown, unknown> | undefined {
  const schema = Object.hasOwn(payloadSchemas, event.type) ? payloadSchemas[event.type] : undefined
  return schema?.safeParse(event.payload)
}

/** Why an event cannot be projected, or undefined when it can. */
export function invalidEvent(event: Envelope): string | undefined {
  const parsed = parsePayload(event)
  if (!parsed) return `fi does not project ${event.type}`
  if (parsed.success) return undefined
  const issue = parsed.error.issues[0]
  return `invalid ${event.type} payload: ${issue?.path.join('.')}: ${issue?.message}`
}

/**
 * fi's read model (CQRS, seed 002): invoices and order credit status, built only from events.
 * Applying an entry is idempotent: an event whose idempotency key was applied changes nothing
 * (that covers a redelivered event and a producer's republish after a crash), an invoice
 * announced twice stays one invoice, and a credit decision older than the one recorded is
 * ignored, so replaying the journal in any interleaving gives the same model.
 */
export class FiReadModel {
  readonly invoices = new Map<string, FiInvoice>()
  readonly orders = new Map<string, OrderView>()
  private readonly idempotencyKeys = new Set<string>()
  /** Events that repeated one already applied (same idempotency key or same invoiceId). */
  duplicates = 0

  static replay(entries: Iterable<JournalEntry>): FiReadModel {
    const model = new FiReadModel()
    for (const entry of entries) model.apply(entry)
    return model
  }

  /** True when the event was already applied, by idempotency key or (for invoices) by invoiceId. */
  isDuplicate(event: Envelope): boolean {
    if (this.idempotencyKeys.has(event.idempotencyKey)) return true
    return event.type === 'fi.invoice.generated' && this.invoices.has(String(event.payload.invoiceId))
  }

  /** Applies a valid entry; false when it changed nothing. */
  apply(entry: JournalEntry): boolean {
    const {event} = entry
    // One parse checks the payload and gives the invoice (with its defaults).
    const payload = parsePayload(event)
    if (!payload?.success || this.isDuplicate(event)) {
      this.duplicates++
      return false
    }
    this.idempotencyKeys.add(event.idempotencyKey)
    switch (event.type) {
      case 'fi.invoice.generated': {
        const invoice = payload.data as z.infer<typeof invoicePayload>
        this.invoices.set(invoice.invoiceId, {...invoice, ...entry.project, projectedAt: entry.projectedAt})
        break
      }
      default: {
        const orderId = String(event.payload.orderId)
        this.orders.set(orderId, nextOrderView(this.orderStatus(orderId), event, entry.projectedAt))
      }
    }
    return true
  }

  /**
   * The budget an event would allocate if applied now (then fi publishes fi.budget.allocated
   * before journaling it), else undefined. Pure: it changes nothing.
   */
  budgetAllocatedBy(event: Envelope, projectedAt: string): BudgetAllocatedPayload | undefined {
    if (event.type === 'fi.invoice.generated' || invalidEvent(event) || this.isDuplicate(event))
      return undefined
    const orderId = String(event.payload.orderId)
    const before = this.orderStatus(orderId)
    const after = nextOrderView(before, event, projectedAt)
    if (before.budgetAllocated || !after.budgetAllocated) return undefined
    const {projectId, budgetAmount, customerId} = after
    if (projectId === undefined || budgetAmount === undefined) return undefined
    return customerId === undefined
      ? {orderId, projectId, amount: budgetAmount}
      : {orderId, projectId, amount: budgetAmount, customerId}
  }

  /** Newest first (by the time the worker generated them), optionally one idempotency-key prefix's. */
  recentInvoices(keyPrefix?: string): FiInvoice[] {
    const all = [...this.invoices.values()]
    const selected = keyPrefix === undefined ? all : all.filter((i) => hasKeyPrefix(i, keyPrefix))
    // ISO times of one format order as strings do; localeCompare cost most of a long list's answer.
    const at = (i: FiInvoice) => i.generatedAt ?? i.projectedAt
    return selected.sort((a, b) => {
      const x = at(a)
      const y = at(b)
      return x < y ? 1 : x > y ? -1 : 0
    })
  }

  /** How many invoices recentInvoices(keyPrefix) would answer. */
  countInvoices(keyPrefix?: string): number {
    if (keyPrefix === undefined) return this.invoices.size
    let count = 0
    for (const invoice of this.invoices.values()) if (hasKeyPrefix(invoice, keyPrefix)) count++
    return count
  }

  orderStatus(orderId: string): OrderView {
    return this.orders.get(orderId) ?? unknownOrder(orderId)
  }
}
