import {z} from 'zod'
import {type Envelope, envelopeSchema} from '../../contract/envelope.js'

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

const orderConfirmed = z.object({
  orderId: z.string().min(1),
  customerId: z.string().optional(),
  amount: z.number().finite().optional(),
  projectId: z.string().optional(),
})

const creditDecision = z.object({
  orderId: z.string().min(1),
  amount: z.number().finite().optional(),
  approver: z.string().optional(),
  reason: z.string().optional(),
  override: z.boolean().optional(),
})

export type FiInvoice = z.infer<typeof invoicePayload> & {
  projectName?: string
  clientName?: string
  /** When fi made it visible: the end of the approve → invoice path. */
  projectedAt: string
}

export type CreditState = 'approved' | 'rejected' | 'unknown'

export interface OrderView {
  orderId: string
  credit: CreditState
  confirmed: boolean
  customerId?: string
  amount?: number
  projectId?: string
  decidedAt?: string
  approver?: string
  reason?: string
  override?: boolean
}

/** The events fi.inbox is bound to. */
export const fiEventTypes = [
  'fi.invoice.generated',
  'sales.order.confirmed',
  'sales.credit.approved',
  'sales.credit.rejected',
] as const

/** Why an event cannot be projected, or undefined when it can. */
export function invalidEvent(event: Envelope): string | undefined {
  const schema = {
    'fi.invoice.generated': invoicePayload,
    'sales.order.confirmed': orderConfirmed,
    'sales.credit.approved': creditDecision,
    'sales.credit.rejected': creditDecision,
  }[event.type]
  if (!schema) return `fi does not project ${event.type}`
  const parsed = schema.safeParse(event.payload)
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
    if (invalidEvent(event) || this.isDuplicate(event)) {
      this.duplicates++
      return false
    }
    this.idempotencyKeys.add(event.idempotencyKey)
    switch (event.type) {
      case 'fi.invoice.generated': {
        const invoice = invoicePayload.parse(event.payload)
        this.invoices.set(invoice.invoiceId, {...invoice, ...entry.project, projectedAt: entry.projectedAt})
        break
      }
      case 'sales.order.confirmed': {
        const order = orderConfirmed.parse(event.payload)
        const view = this.order(order.orderId)
        Object.assign(view, {confirmed: true, customerId: order.customerId, amount: order.amount})
        if (order.projectId !== undefined) view.projectId = order.projectId
        break
      }
      default: {
        const decision = creditDecision.parse(event.payload)
        const view = this.order(decision.orderId)
        if (view.decidedAt !== undefined && view.decidedAt > event.occurredAt) break
        view.credit = event.type === 'sales.credit.approved' ? 'approved' : 'rejected'
        view.decidedAt = event.occurredAt
        view.approver = decision.approver
        view.reason = decision.reason
        view.override = decision.override
      }
    }
    return true
  }

  /** Newest first (by the time the worker generated them), optionally one idempotency-key prefix's. */
  recentInvoices(keyPrefix?: string): FiInvoice[] {
    const all = [...this.invoices.values()]
    const selected =
      keyPrefix === undefined ? all : all.filter((i) => String(i.idempotencyKey ?? '').startsWith(keyPrefix))
    return selected.sort((a, b) =>
      (b.generatedAt ?? b.projectedAt).localeCompare(a.generatedAt ?? a.projectedAt),
    )
  }

  orderStatus(orderId: string): OrderView {
    return this.orders.get(orderId) ?? {orderId, credit: 'unknown', confirmed: false}
  }

  private order(orderId: string): OrderView {
    let view = this.orders.get(orderId)
    if (!view) {
      view = {orderId, credit: 'unknown', confirmed: false}
      this.orders.set(orderId, view)
    }
    return view
  }
}
