import {z} from 'zod'
import {type PublishRequest, type PublishResult} from '../shared/bus.js'
import {exchanges} from '../../contract/topology.js'
import {makeEnvelope} from '../../contract/envelope.js'
import {orderEvents} from '../../contract/orders.js'
import type {HttpServer} from '../shared/http.js'
import {idempotencyKeyOf} from '../shared/idempotency-key.js'
import {maxAmount, parseInput} from '../shared/input.js'
import {shardOf} from '../../contract/shard.js'

const confirmBody = z.object({
  orderId: z.string().trim().min(1).max(128),
  customerId: z.string().trim().min(1).max(128),
  amount: z.number().finite().positive().max(maxAmount),
  projectId: z.string().trim().min(1).max(128).optional(),
})

export interface SalesDeps {
  publish(request: PublishRequest): Promise<PublishResult>
  numShards: number
}

export function registerSalesRoutes(app: HttpServer, deps: SalesDeps): void {
  app.post('/sales/orders/confirm', async (request, reply) => {
    const order = parseInput(confirmBody, request.body)
    const envelope = makeEnvelope({
      type: orderEvents.orderConfirmed,
      key: order.orderId,
      payload: order,
      idempotencyKey: idempotencyKeyOf(request),
    })
    // Durable (confirmed, or kept in the outbox) before the client hears "accepted".
    await deps.publish({exchange: exchanges.domain, routingKey: orderEvents.orderConfirmed, envelope})
    reply.code(202)
    return {accepted: true, eventId: envelope.eventId, shard: shardOf(order.orderId, deps.numShards)}
  })
}
