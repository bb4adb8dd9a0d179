import {z} from 'zod'
import {assertAdmin, HttpError, type HttpServer} from '../shared/http.js'
import {parseInput} from '../shared/input.js'
import type {FiReadModel} from './read-model.js'

export interface FiDeps {
  model: () => FiReadModel
  rebuild: () => Promise<{events: number; invoices: number; orders: number}>
  reset: () => Promise<void>
  adminToken?: string
}

const invoicesQuery = z.object({
  /** 0 answers the count alone (`total`), which fi finds without sorting anything. */
  limit: z.coerce.number().int().min(0).max(100_000).default(50),
  /** Only invoices whose approval's idempotency key starts with this (one producer run's). */
  keyPrefix: z.string().min(1).max(256).optional(),
})

export function registerFiRoutes(app: HttpServer, deps: FiDeps): void {
  app.get('/invoices', async (request) => {
    const {limit, keyPrefix} = parseInput(invoicesQuery, request.query)
    const model = deps.model()
    if (limit === 0) return {items: [], total: model.countInvoices(keyPrefix)}
    const items = model.recentInvoices(keyPrefix)
    return {items: items.slice(0, limit), total: items.length}
  })

  app.get<{Params: {id: string}}>('/invoices/:id', async (request) => {
    const invoice = deps.model().invoices.get(request.params.id)
    if (!invoice) {
      throw new HttpError(
        404,
        'invoice_not_found',
        `no invoice ${request.params.id} (yet): the read model may still be catching up`,
      )
    }
    return invoice
  })

  app.get<{Params: {orderId: string}}>('/orders/:orderId/status', async (request) => {
    return deps.model().orderStatus(request.params.orderId)
  })

  app.post('/admin/rebuild', async (request) => {
    assertAdmin(request, deps.adminToken)
    return {ok: true, ...(await deps.rebuild())}
  })

  app.post('/admin/reset', async (request) => {
    assertAdmin(request, deps.adminToken)
    await deps.reset()
    return {ok: true, reset: true}
  })
}
