import {z} from 'zod'
import type {Project, Timesheet} from './domain.js'

/**
 * pm's compliance invoices: the seeded records (fixtures/pm/seed.json, the seed's invoiceSeed
 * shape) and the invoices fi announces for approved timesheets, in one list with one shape.
 */
export interface InvoiceAttachment {
  id: string
  kind: string
  fileName: string
  mimeType: string
  sizeLabel: string
  previewNote?: string
  /** Where the file is kept in MinIO (`compliance/<invoice>/<file>`). */
  storageKey?: string
  downloadUrl?: string
}

export interface ComplianceInvoice {
  id: string
  /** SPEC §4.1's name of id. */
  invoiceId: string
  invoiceNumber: string
  /** YYYY-MM-DD */
  issueDate: string
  dueDate?: string
  counterpartyName: string
  counterpartyNumber?: string
  subject: string
  amountIncludingTax: number
  amountExcludingTax: number
  currency: string
  status: string
  tags: string[]
  remarks?: string
  matchedPurchaseOrder?: string
  attachments: InvoiceAttachment[]
  createdAt: string
  updatedAt: string
  /** `seed` for the seeded records, `fi` for an invoice linked from fi.invoice.generated. */
  source: 'seed' | 'fi'
  /** Of a linked invoice: its timesheet and project, and fi's amount (hours × rate, no tax). */
  timesheetId?: string
  projectCode?: string
  amount?: number
  /** The approval's large payload in object storage, as the event carried it (the seed's attachmentUrl). */
  attachmentUrl?: string
}

/**
 * A stored invoice in today's shape. A link as older pm versions stored it (`{invoiceId,
 * timesheetId, projectCode?, amount?, status, createdAt}`) gets the compliance fields derived
 * from what pm knows: the project's client is the counterparty, fi's amount (which has no tax)
 * both amounts, the day it was linked the issue date.
 */
export function normalizeInvoice(
  stored: Partial<ComplianceInvoice> & {currency?: string; hours?: number},
  context: {project?: Project; timesheet?: Timesheet},
): ComplianceInvoice {
  const id = (stored.id ?? stored.invoiceId) as string
  const createdAt = stored.createdAt ?? new Date(0).toISOString()
  const amount = stored.amountIncludingTax ?? stored.amount ?? 0
  const {hours: _hours, ...rest} = stored
  const hours = stored.hours ?? context.timesheet?.hours
  const what = context.project ? ` on ${context.project.name}` : ''
  const subject =
    stored.subject ??
    (stored.timesheetId
      ? `Timesheet ${stored.timesheetId}${hours === undefined ? '' : `: ${hours} h`}${what}`
      : id)
  return {
    ...rest,
    id,
    invoiceId: id,
    invoiceNumber: stored.invoiceNumber ?? id,
    issueDate: stored.issueDate ?? createdAt.slice(0, 10),
    counterpartyName: stored.counterpartyName ?? context.project?.clientName ?? 'Internal',
    subject,
    amountIncludingTax: amount,
    amountExcludingTax: stored.amountExcludingTax ?? amount,
    currency: stored.currency ?? 'JPY',
    status: stored.status ?? 'draft',
    tags: stored.tags ?? [],
    attachments: stored.attachments ?? [],
    createdAt,
    updatedAt: stored.updatedAt ?? createdAt,
    source: stored.source ?? (stored.timesheetId ? 'fi' : 'seed'),
  }
}

export const invoiceSortKeys = [
  'issueDate',
  'updatedAt',
  'amount',
  'createdAt',
  'invoiceId',
  'timesheetId',
  'status',
] as const
export type InvoiceSortKey = (typeof invoiceSortKeys)[number]

const amountFilter = z.coerce.number().finite().min(0)
const dateFilter = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')

export const invoiceQuery = z.object({
  keyword: z.string().max(200).optional(),
  /** `all` is no filter. */
  status: z.string().max(64).optional(),
  /** Issued on or after / on or before (YYYY-MM-DD). */
  startDate: dateFilter.optional(),
  endDate: dateFilter.optional(),
  /** Amount including tax, at least / at most. */
  minAmount: amountFilter.optional(),
  maxAmount: amountFilter.optional(),
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(10),
  sortBy: z.enum(invoiceSortKeys).default('createdAt'),
  sortDir: z.enum(['asc', 'desc']).default('desc'),
})
export type InvoiceQuery = z.infer<typeof invoiceQuery>

/** The seed's other names of the filters (its filterInvoices and REST handler read both). */
const queryAliases: Record<string, keyof InvoiceQuery> = {
  search: 'keyword',
  issued_from: 'startDate',
  issued_to: 'endDate',
  min_total: 'minAmount',
  max_total: 'maxAmount',
  page_size: 'pageSize',
  limit: 'pageSize',
  sort_by: 'sortBy',
  sort_dir: 'sortDir',
}

/**
 * A query string's fields under their own names, where they were sent under one of the seed's
 * others; an empty field is an absent one (a search form sends its empty inputs).
 */
export function withInvoiceAliases(query: Record<string, unknown>): Record<string, unknown> {
  const sent = Object.fromEntries(Object.entries(query).filter(([, value]) => value !== ''))
  const named: Record<string, unknown> = {...sent}
  for (const [alias, name] of Object.entries(queryAliases)) {
    if (named[name] === undefined && sent[alias] !== undefined) named[name] = sent[alias]
  }
  return named
}

export interface InvoicePage {
  meta: {
    total: number
    page: number
    pageSize: number
    totalPages: number
    sortBy: InvoiceSortKey
    sortDir: 'asc' | 'desc'
    fetchedAt: string
    fallback: false
  }
  items: ComplianceInvoice[]
}

const dateKeys = new Set<InvoiceSortKey>(['issueDate', 'updatedAt', 'createdAt'])

export function listInvoices(
  invoices: readonly ComplianceInvoice[],
  q: InvoiceQuery,
  now: Date,
): InvoicePage {
  const keyword = q.keyword?.trim().toLowerCase()
  const status = q.status && q.status !== 'all' ? q.status : undefined
  const filtered = invoices.filter((i) => {
    if (status !== undefined && i.status !== status) return false
    if (q.startDate && i.issueDate < q.startDate) return false
    if (q.endDate && i.issueDate > q.endDate) return false
    if (q.minAmount !== undefined && i.amountIncludingTax < q.minAmount) return false
    if (q.maxAmount !== undefined && i.amountIncludingTax > q.maxAmount) return false
    if (!keyword) return true
    return [
      i.invoiceId,
      i.invoiceNumber,
      i.counterpartyName,
      i.counterpartyNumber,
      i.subject,
      i.remarks,
      i.timesheetId,
      i.projectCode,
      i.matchedPurchaseOrder,
      ...i.tags,
    ]
      .filter(Boolean)
      .join(' ')
      .toLowerCase()
      .includes(keyword)
  })
  const direction = q.sortDir === 'asc' ? 1 : -1
  const value = (i: ComplianceInvoice): number | string => {
    if (q.sortBy === 'amount') return i.amountIncludingTax
    const raw = i[q.sortBy] ?? ''
    if (!dateKeys.has(q.sortBy)) return raw
    // Offsets differ (+09:00, Z): compare instants, not strings; a bare date is its UTC midnight.
    const time = Date.parse(raw.length === 10 ? `${raw}T00:00:00Z` : raw)
    return Number.isNaN(time) ? 0 : time
  }
  const sorted = filtered
    .map((invoice) => ({invoice, key: value(invoice)}))
    .sort((a, b) => {
      const order = a.key < b.key ? -1 : a.key > b.key ? 1 : 0
      return direction * (order || (a.invoice.id < b.invoice.id ? -1 : a.invoice.id > b.invoice.id ? 1 : 0))
    })
    .map((entry) => entry.invoice)
  const start = (q.page - 1) * q.pageSize
  return {
    meta: {
      total: filtered.length,
      page: q.page,
      pageSize: q.pageSize,
      totalPages: Math.ceil(filtered.length / q.pageSize),
      sortBy: q.sortBy,
      sortDir: q.sortDir,
      fetchedAt: now.toISOString(),
      fallback: false,
    },
    items: sorted.slice(start, start + q.pageSize),
  }
}
