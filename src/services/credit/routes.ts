import {z} from 'zod'
import {orderEvents, type CreditPayload} from '../../contract/orders.js'
import {shardOf} from '../../contract/shard.js'
import {assertAdmin, HttpError, type HttpServer} from '../shared/http.js'
import {maxAmount, parseInput} from '../shared/input.js'
import type {Logger} from '../shared/logger.js'
import {type CreditDeps, type CreditStore, publishOrderEvent, withoutUndefined} from './decide.js'
import {
  actionKey,
  actionStatus,
  type CreditAction,
  type CreditOrder,
  checkAction,
  recordAction,
} from './orders.js'

const orderId = z.string().trim().min(1).max(128)
const customerId = z.string().trim().min(1).max(128).optional()
const amount = z.number().finite().positive().max(maxAmount)

const overrideBody = z.object({
  orderId,
  customerId,
  amount,
  approver: z.string().trim().min(1).max(128),
})

/** The seed's body; without an amount the order's own is decided again. */
const reapplyBody = z.object({orderId, customerId, amount: amount.optional()})

/** The seed's body; its amount is taken and ignored: the event carries the order's. */
const revokeBody = z.object({
  orderId,
  customerId,
  amount: z.number().finite().nonnegative().max(maxAmount).optional(),
})

export interface CreditRouteDeps {
  store: CreditStore
  publish: CreditDeps['publish']
  numShards: number
  logger: Logger
  adminToken?: string
  onAction?: (action: CreditAction) => void
  reset: () => Promise<void>
}

const actionEvent: Record<CreditAction, string> = {
  override: orderEvents.creditOverrideApproved,
  reapply: orderEvents.creditRequested,
  revoke: orderEvents.creditRevoked,
}

/**
 * The operator's actions on an order credit knows (the seed's credit-service API), each checked
 * against the order's state (404 unknown order, 409 not allowed now), published, then recorded.
 */
export function registerCreditRoutes(app: HttpServer, deps: CreditRouteDeps): void {
  /** Orders with an action under way: a second one waits for the first's answer. */
  const busy = new Set<string>()

  const act = async (
    action: CreditAction,
    id: string,
    change: {amount?: number; customerId?: string; approver?: string; reason: string},
  ): Promise<{order: CreditOrder; eventId: string; shard: number}> => {
    const before = checkAction(deps.store.current, id, action)
    if (busy.has(id)) {
      throw new HttpError(409, 'action_in_progress', `another action on order ${id} is under way; retry`)
    }
    busy.add(id)
    try {
      const payload: CreditPayload = withoutUndefined({
        orderId: id,
        customerId: change.customerId ?? before.customerId,
        amount: action === 'revoke' ? before.amount : (change.amount ?? before.amount),
        projectId: before.projectId,
        approver: change.approver,
        reason: change.reason,
        override: action === 'override' ? true : undefined,
      })
      // Published first: a crash before the record below leaves the order as it was, and the
      // client's retry publishes the same idempotency key again.
      const eventId = await publishOrderEvent(
        deps.publish,
        actionEvent[action],
        payload,
        actionKey(action, before),
      )
      const order = await deps.store.mutate((state) =>
        recordAction(
          state,
          id,
          action,
          {...change, amount: payload.amount, version: before.version},
          new Date(),
        ),
      )
      deps.onAction?.(action)
      deps.logger.info({orderId: id, action, status: order.status, eventId}, `credit ${action} ${id}`)
      return {order, eventId, shard: shardOf(id, deps.numShards)}
    } finally {
      busy.delete(id)
    }
  }

  app.get<{Params: {orderId: string}}>('/credit/orders/:orderId', async (request) => {
    const {orderId: id} = request.params
    const order = Object.hasOwn(deps.store.current.orders, id) ? deps.store.current.orders[id] : undefined
    if (!order) {
      throw new HttpError(
        404,
        'order_not_found',
        `credit knows no order ${id} (yet): it learns orders from sales.order.confirmed`,
      )
    }
    return order
  })

  app.post('/credit/override', async (request) => {
    const body = parseInput(overrideBody, request.body)
    const {order, eventId, shard} = await act('override', body.orderId, {...body, reason: 'manual override'})
    return {ok: true, accepted: true, orderId: order.orderId, credit: actionStatus.override, eventId, shard}
  })

  app.post('/credit/reapply', async (request, reply) => {
    const body = parseInput(reapplyBody, request.body)
    const {order, eventId, shard} = await act('reapply', body.orderId, {
      amount: body.amount,
      customerId: body.customerId,
      reason: 're-application',
    })
    reply.code(202)
    return {ok: true, accepted: true, orderId: order.orderId, credit: actionStatus.reapply, eventId, shard}
  })

  app.post('/credit/revoke', async (request, reply) => {
    const body = parseInput(revokeBody, request.body)
    const {order, eventId, shard} = await act('revoke', body.orderId, {
      customerId: body.customerId,
      reason: 'credit revoked',
    })
    reply.code(202)
    return {ok: true, accepted: true, orderId: order.orderId, credit: actionStatus.revoke, eventId, shard}
  })

  app.post('/admin/reset', async (request) => {
    assertAdmin(request, deps.adminToken)
    await deps.reset()
    return {ok: true, reset: true}
  })
}
