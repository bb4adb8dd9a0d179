import {performance} from 'node:perf_hooks'
import type {FastifyReply, FastifyRequest, FastifySchema} from 'fastify'
import {assertAdmin, HttpError, type HttpServer} from '../shared/http.js'
import type {OrderRequest} from './engine.js'
import type {Gateway, Rejection} from './gateway.js'
import {bearerToken, JwtError, verifyJwt, type VerifyJwtOptions} from './jwt.js'
import type {GatewayMetrics} from './metrics.js'

export interface GatewayRouteOptions {
  gateway: Gateway
  metrics: GatewayMetrics
  jwt: VerifyJwtOptions
  adminToken: string | undefined
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The account the bearer token speaks for, set by the `authenticated` hook. */
    accountId: string
  }
}

const maxKeyLength = 128

const orderBody = {
  type: 'object',
  required: ['symbol', 'side', 'type', 'qty'],
  additionalProperties: false,
  properties: {
    symbol: {type: 'string', minLength: 1, maxLength: 32},
    side: {type: 'string', enum: ['BUY', 'SELL']},
    type: {type: 'string', enum: ['LIMIT', 'MARKET']},
    qty: {type: 'number'},
    price: {type: 'number', exclusiveMinimum: 0},
    timeInForce: {type: 'string', enum: ['GTC', 'GTD']},
    expireAt: {type: 'string', format: 'date-time'},
    clientOrderId: {type: 'string', minLength: 1, maxLength: maxKeyLength},
  },
} as const

const acceptedReply = {
  type: 'object',
  properties: {
    orderId: {type: 'string'},
    acceptSeq: {type: 'integer'},
    requestId: {type: 'string'},
    clientOrderId: {type: 'string'},
    status: {type: 'string'},
    replayed: {type: 'boolean'},
  },
} as const

// Typed loosely on purpose: with the 202 schema's type fastify would only let the handler answer 202.
const placeOrderSchema: FastifySchema = {body: orderBody, response: {202: acceptedReply}}

const idParams = {
  type: 'object',
  properties: {id: {type: 'string', minLength: 1, maxLength: 64}},
} as const

/** The orders API, streams and audit endpoints of SPEC §4.5. */
export function registerGatewayRoutes(
  app: HttpServer,
  {gateway, metrics, jwt, adminToken}: GatewayRouteOptions,
): void {
  app.decorateRequest('accountId', '')

  /** The account a request speaks for; 401 with the reason otherwise. */
  const authenticate = (request: FastifyRequest, reply: FastifyReply): string => {
    const token = bearerToken(request.headers.authorization)
    if (token === undefined) {
      metrics.unauthorized.inc({reason: 'missing_token'})
      void reply.header('www-authenticate', 'Bearer')
      throw new HttpError(401, 'unauthorized', 'send Authorization: Bearer <token> (poc token prints one)', {
        reason: 'missing_token',
      })
    }
    try {
      return verifyJwt(token, jwt).accountId
    } catch (error) {
      if (!(error instanceof JwtError)) throw error
      metrics.unauthorized.inc({reason: error.reason})
      void reply.header('www-authenticate', `Bearer error="invalid_token"`)
      throw new HttpError(401, 'unauthorized', error.message, {reason: error.reason})
    }
  }

  // Before the body is read or validated: a stranger learns nothing about the API's input rules.
  const onRequest = async (request: FastifyRequest, reply: FastifyReply) => {
    request.accountId = authenticate(request, reply)
  }

  app.post('/orders', {onRequest, schema: placeOrderSchema}, async (request, reply) => {
    const receivedAt = performance.now()
    const accountId = request.accountId
    const body = request.body as OrderRequest
    const header = request.headers['idempotency-key']
    const key = (Array.isArray(header) ? header[0] : header) ?? body.clientOrderId
    if (key === undefined || key === '') {
      return reply.code(400).send({
        status: 'REJECTED',
        reason: 'IDEMPOTENCY_REQUIRED',
        error: 'IDEMPOTENCY_REQUIRED',
        message: 'send an Idempotency-Key header or a clientOrderId, so a retry cannot place the order twice',
        requestId: request.id,
      })
    }
    if (key.length > maxKeyLength) {
      throw new HttpError(
        400,
        'validation_failed',
        `Idempotency-Key is longer than ${maxKeyLength} characters`,
        {
          field: 'Idempotency-Key',
        },
      )
    }
    checkShape(body)
    const outcome = gateway.place(accountId, key, body, receivedAt)
    if (outcome.kind === 'rejected') return sendRejection(reply, request.id, body, outcome)
    const order = outcome.order
    metrics.latency.ack.record((performance.now() - receivedAt) * 1000)
    return reply.code(202).send({
      orderId: order.orderId,
      acceptSeq: order.acceptSeq,
      requestId: request.id,
      clientOrderId: order.clientOrderId,
      status: 'ACCEPTED',
      ...(outcome.kind === 'replayed' ? {replayed: true} : {}),
    })
  })

  app.get('/orders/client/:id', {onRequest, schema: {params: idParams}}, async (request, reply) => {
    const accountId = request.accountId
    return gateway.clientOrderStatus(accountId, (request.params as {id: string}).id)
  })

  const ownOrder = (request: FastifyRequest, accountId: string) => {
    const orderId = (request.params as {id: string}).id
    const order = gateway.order(accountId, orderId)
    if (!order) throw new HttpError(404, 'ORDER_NOT_FOUND', `no order ${orderId} for this account`)
    return order
  }

  app.get('/orders/:id', {onRequest, schema: {params: idParams}}, async (request, reply) => {
    return ownOrder(request, request.accountId)
  })

  app.post('/orders/:id/cancel', {onRequest, schema: {params: idParams}}, async (request, reply) => {
    const accountId = request.accountId
    const orderId = (request.params as {id: string}).id
    const outcome = gateway.cancel(accountId, orderId)
    if (outcome.kind === 'not_found')
      throw new HttpError(404, 'ORDER_NOT_FOUND', `no order ${orderId} for this account`)
    if (outcome.kind === 'final') {
      return reply.code(409).send({
        error: 'ORDER_FINAL',
        reason: 'ORDER_FINAL',
        message: `order ${orderId} is ${outcome.order.status}; it can no longer be canceled`,
        orderId,
        status: outcome.order.status,
      })
    }
    return reply.code(202).send({orderId, status: 'CANCEL_REQUESTED', requestId: request.id})
  })

  app.get('/orders/:id/events', {onRequest, schema: {params: idParams}}, async (request, reply) => {
    const order = ownOrder(request, request.accountId)
    const {events, complete} = gateway.orderEvents(order)
    return {orderId: order.orderId, events: events.map(toWireEvent), complete}
  })

  app.get(
    '/accounts/:id/events',
    {
      onRequest,
      schema: {
        params: idParams,
        querystring: {
          type: 'object',
          properties: {
            after: {type: 'string', maxLength: 64},
            limit: {type: 'integer', minimum: 1, maximum: 1000, default: 100},
          },
        },
      },
    },
    async (request, reply) => {
      const accountId = request.accountId
      const wanted = (request.params as {id: string}).id
      // Another account's events are as unknown as a missing account's.
      if (wanted !== accountId)
        throw new HttpError(404, 'ACCOUNT_NOT_FOUND', `no account ${wanted} for this token`)
      const {after, limit} = request.query as {after?: string; limit: number}
      const events = gateway.accountEvents(accountId, limit, after)
      return {accountId, events: events.map(toWireEvent), next: events.at(-1)?.id ?? after ?? null}
    },
  )

  app.get('/stream', {onRequest}, async (request, reply) => {
    const accountId = request.accountId
    gateway.catchUp(gateway.hub.attach(request, reply, {filter: {accountId}}))
  })

  app.get('/orders/:id/stream', {onRequest, schema: {params: idParams}}, async (request, reply) => {
    const accountId = request.accountId
    const order = ownOrder(request, accountId)
    gateway.catchUp(gateway.hub.attach(request, reply, {filter: {accountId, orderId: order.orderId}}))
  })

  app.get(
    '/audit/verify',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {fromSeq: {type: 'integer', minimum: 1}, limit: {type: 'integer', minimum: 1}},
        },
      },
    },
    async (request) => gateway.verify(request.query as {fromSeq?: number; limit?: number}),
  )

  app.get('/audit/anchor', async () => gateway.anchor())

  app.post('/admin/reset', async (request) => {
    assertAdmin(request, adminToken)
    await gateway.reset()
    return {ok: true, orders: gateway.orders}
  })
}

/** Rules JSON schema cannot say: a LIMIT order needs its price, a GTD order its expiry. */
function checkShape(body: OrderRequest): void {
  if (body.type === 'LIMIT' && body.price === undefined) {
    throw new HttpError(400, 'validation_failed', 'body.price is required for a LIMIT order', {
      field: 'price',
    })
  }
  if (body.timeInForce === 'GTD' && body.expireAt === undefined) {
    throw new HttpError(400, 'validation_failed', 'body.expireAt is required for a GTD order', {
      field: 'expireAt',
    })
  }
}

function sendRejection(reply: FastifyReply, requestId: string, body: OrderRequest, outcome: Rejection) {
  if ('retryAfterSec' in outcome && outcome.retryAfterSec !== undefined) {
    void reply.header('retry-after', String(outcome.retryAfterSec))
  }
  return reply.code(outcome.status).send({
    status: 'REJECTED',
    reason: outcome.reason,
    error: outcome.reason,
    message: outcome.message,
    requestId,
    ...(body.clientOrderId === undefined ? {} : {clientOrderId: body.clientOrderId}),
  })
}

function toWireEvent(event: {id: string; type: string; at: string; data: Record<string, unknown>}) {
  return {eventId: event.id, type: event.type, at: event.at, ...event.data}
}
