import {ApiError, apiRequest, graphqlRequest} from '../../lib/api'
import {graphqlOrRest} from '../../lib/fetch-strategy'
import {queryString} from '../../lib/filters'
import {
  sampleInvoices,
  toInvoice,
  type Invoice,
  type InvoicePage,
  type InvoiceWire,
  type SortKey,
} from './types'

export interface InvoiceQuery {
  keyword: string
  status: string
  startDate: string
  endDate: string
  minAmount: string
  maxAmount: string
  page: number
  pageSize: number
  sortBy: SortKey
  sortDir: 'asc' | 'desc'
}

const attachmentFields = 'id kind fileName mimeType sizeLabel previewNote downloadUrl storageKey'
/** The seed's query (ui-poc ComplianceInvoicesLive). */
const invoicesQuery = `query ComplianceInvoicesLive($status: String, $keyword: String, $startDate: String, $endDate: String, $minAmount: Float, $maxAmount: Float, $page: Int, $pageSize: Int, $sortBy: String, $sortDir: String) {
  complianceInvoices(filter: {status: $status, keyword: $keyword, startDate: $startDate, endDate: $endDate, minAmount: $minAmount, maxAmount: $maxAmount, page: $page, pageSize: $pageSize, sortBy: $sortBy, sortDir: $sortDir}) {
    items { id invoiceNumber counterpartyName counterpartyNumber issueDate dueDate amountIncludingTax amountExcludingTax currency status matchedPurchaseOrder subject attachments { ${attachmentFields} } remarks tags createdAt updatedAt }
    meta { total page pageSize totalPages sortBy sortDir fallback }
  }
}`

interface ListWire {
  items: InvoiceWire[]
  meta?: {
    total?: number
    page?: number
    pageSize?: number
    totalPages?: number
    sortBy?: string
    sortDir?: string
    fetchedAt?: string
  }
}

function toPage(wire: ListWire, query: InvoiceQuery): InvoicePage {
  const items = wire.items.map(toInvoice)
  const total = wire.meta?.total ?? items.length
  const pageSize = wire.meta?.pageSize ?? query.pageSize
  return {
    items,
    total,
    page: wire.meta?.page ?? query.page,
    pageSize,
    totalPages: Math.max(1, wire.meta?.totalPages ?? Math.ceil(total / pageSize)),
    sortBy: (wire.meta?.sortBy as SortKey | undefined) ?? query.sortBy,
    sortDir: wire.meta?.sortDir === 'asc' ? 'asc' : wire.meta?.sortDir === 'desc' ? 'desc' : query.sortDir,
    fetchedAt: wire.meta?.fetchedAt ?? new Date().toISOString(),
  }
}

export function restInvoicesPath(query: InvoiceQuery): string {
  return `/api/v1/compliance/invoices${queryString({...query})}`
}

const number = (text: string) =>
  text.trim() === '' || !Number.isFinite(Number(text)) ? undefined : Number(text)

export function fetchInvoices(query: InvoiceQuery, signal: AbortSignal): Promise<InvoicePage> {
  const variables = {
    status: query.status === 'all' ? undefined : query.status,
    keyword: query.keyword || undefined,
    startDate: query.startDate || undefined,
    endDate: query.endDate || undefined,
    minAmount: number(query.minAmount),
    maxAmount: number(query.maxAmount),
    page: query.page,
    pageSize: query.pageSize,
    sortBy: query.sortBy,
    sortDir: query.sortDir,
  }
  return graphqlOrRest(
    async () =>
      toPage(
        (await graphqlRequest<{complianceInvoices: ListWire}>(invoicesQuery, variables, {signal}))
          .complianceInvoices,
        query,
      ),
    async (pm) => {
      // A pm without GraphQL predates the seed's field names: it sorts by createdAt where the
      // seed sorts by issueDate or updatedAt. A pm that refuses the seed's key is asked again.
      const older = todaysSortKey[query.sortBy]
      const rest = (sortBy: string) =>
        apiRequest<ListWire>(restInvoicesPath({...query, sortBy: sortBy as SortKey}), {signal})
      if (!pm.graphql && older) return {...toPage(await rest(older), query), sortBy: query.sortBy}
      try {
        return toPage(await rest(query.sortBy), query)
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 400 && older)) throw error
        return {...toPage(await rest(older), query), sortBy: query.sortBy}
      }
    },
  )
}

const todaysSortKey: Partial<Record<SortKey, string>> = {issueDate: 'createdAt', updatedAt: 'createdAt'}

/** The sample invoices searched, sorted and paged as pm would (the page works the same offline). */
export function searchSample(query: InvoiceQuery): InvoicePage {
  const keyword = query.keyword.trim().toLowerCase()
  const min = number(query.minAmount)
  const max = number(query.maxAmount)
  const found = sampleInvoices.filter((invoice) => {
    if (query.status !== 'all' && invoice.status !== query.status) return false
    if (query.startDate && invoice.issueDate < query.startDate) return false
    if (query.endDate && invoice.issueDate > query.endDate) return false
    if (min !== undefined && invoice.amountIncludingTax < min) return false
    if (max !== undefined && invoice.amountIncludingTax > max) return false
    if (!keyword) return true
    return [
      invoice.invoiceNumber,
      invoice.counterpartyName,
      invoice.subject,
      ...invoice.tags,
      invoice.remarks ?? '',
    ]
      .join(' ')
      .toLowerCase()
      .includes(keyword)
  })
  const value = (invoice: Invoice): string | number =>
    query.sortBy === 'amount'
      ? invoice.amountIncludingTax
      : query.sortBy === 'updatedAt'
        ? (invoice.updatedAt ?? '')
        : invoice.issueDate
  const sorted = found.slice().sort((a, b) => {
    const [x, y] = [value(a), value(b)]
    const order = x < y ? -1 : x > y ? 1 : 0
    return query.sortDir === 'asc' ? order : -order
  })
  const totalPages = Math.max(1, Math.ceil(sorted.length / query.pageSize))
  const page = Math.min(query.page, totalPages)
  return {
    items: sorted.slice((page - 1) * query.pageSize, page * query.pageSize),
    total: sorted.length,
    page,
    pageSize: query.pageSize,
    totalPages,
    sortBy: query.sortBy,
    sortDir: query.sortDir,
    fetchedAt: '2024-09-30T00:00:00.000Z',
  }
}
