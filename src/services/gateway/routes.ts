import {performance} from 'node:perf_hooks'
import type {FastifyReply, FastifyRequest} from 'fastify'
import {assertAdmin, HttpError, type HttpServer} from '../shared/http.js'
import {type Gateway, toWire} from './gateway.js'
import {bearerToken, JwtError, type TokenVerifier} from '../../contract/jwt.js'
import type {GatewayMetrics} from './metrics.js'
import {maxClientOrderIdLength} from './place-order.js'

export interface GatewayRouteOptions {
  gateway: Gateway
  metrics: GatewayMetrics
  tokens: TokenVerifier
  adminToken: string | undefined
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The account the bearer token speaks for, set by the `authenticated` hook. */
    accountId: string
  }
}

const idParams = {
  type: 'object',
  properties: {id: {type: 'string', minLength: 1, maxLength: 64}},
} as const

const clientOrderIdParams = {
  type: 'object',
  properties: {id: {type: 'string', minLength: 1, maxLength: maxClientOrderIdLength}},
} as const

/** The orders API (but POST /orders, see place-order.ts), streams and audit endpoints of SPEC §4.5. */
export function registerGatewayRoutes(
  app: HttpServer,
  {gateway, metrics, tokens, adminToken}: GatewayRouteOptions,
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
      return tokens.verify(token)
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

  app.get('/orders/client/:id', {onRequest, schema: {params: clientOrderIdParams}}, async (request) => {
    const accountId = request.accountId
    return gateway.clientOrderStatus(accountId, (request.params as {id: string}).id)
  })

  const ownOrder = (request: FastifyRequest, accountId: string) => {
    const orderId = (request.params as {id: string}).id
    const order = gateway.order(accountId, orderId)
    if (!order) throw new HttpError(404, 'ORDER_NOT_FOUND', `no order ${orderId} for this account`)
    return order
  }

  app.get('/orders/:id', {onRequest, schema: {params: idParams}}, async (request) => {
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

  app.get('/orders/:id/events', {onRequest, schema: {params: idParams}}, async (request) => {
    const order = ownOrder(request, request.accountId)
    const {events, complete} = gateway.orderEvents(order)
    return {orderId: order.orderId, events: events.map(toWire), complete}
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
    async (request) => {
      const accountId = request.accountId
      const wanted = (request.params as {id: string}).id
      // Another account's events are as unknown as a missing account's.
      if (wanted !== accountId)
        throw new HttpError(404, 'ACCOUNT_NOT_FOUND', `no account ${wanted} for this token`)
      const {after, limit} = request.query as {after?: string; limit: number}
      const events = gateway.accountEvents(accountId, limit, after)
      return {accountId, events: events.map(toWire), next: events.at(-1)?.id ?? after ?? null}
    },
  )

  app.get('/stream', {onRequest}, async (request, reply) => {
    const accountId = request.accountId
    gateway.catchUp(gateway.hub.attach(request, reply, {filter: {accountId}, owner: `account ${accountId}`}))
  })

  app.get('/orders/:id/stream', {onRequest, schema: {params: idParams}}, async (request, reply) => {
    const accountId = request.accountId
    const order = ownOrder(request, accountId)
    gateway.catchUp(
      gateway.hub.attach(request, reply, {
        filter: {accountId, orderId: order.orderId},
        owner: `account ${accountId}`,
      }),
    )
  })

  app.get(
    '/audit/verify',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            fromSeq: {type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER},
            limit: {type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER},
          },
        },
      },
    },
    async (request) => gateway.verify(request.query as {fromSeq?: number; limit?: number}),
  )

  app.get('/audit/anchor', async () => gateway.anchor())

  // The seed's canary API (its app's /stats and /events, read by quick_canary.py and
  // run_canary.sh), unauthenticated as there; see Gateway.probe and stats.ts.
  app.get('/stats', async () => gateway.stats())

  app.post(
    '/events',
    {
      schema: {
        querystring: {type: 'object', properties: {key: {type: 'string', maxLength: 256}}},
        body: {type: 'object'},
      },
    },
    async (request, reply) => {
      const receivedAt = performance.now()
      const key = (request.query as {key?: string}).key
      if (key === undefined || key === '') {
        throw new HttpError(400, 'MISSING_KEY', "send the event's symbol as ?key=, e.g. POST /events?key=BTC")
      }
      const outcome = gateway.probe(key, receivedAt)
      if (outcome.kind === 'queued') return {status: 'OK', key}
      if (outcome.retryAfterSec !== undefined) void reply.header('retry-after', String(outcome.retryAfterSec))
      throw new HttpError(outcome.status, outcome.reason, outcome.message, {reason: outcome.reason, key})
    },
  )

  app.get('/events', async (_request, reply) => {
    void reply.header('allow', 'POST')
    throw new HttpError(
      405,
      'method_not_allowed',
      "GET /events is not a route: POST /events?key=<symbol> sends an event (the seed's canary), GET /stats reads the counts",
    )
  })

  // The latency histograms whole, so a client (poc bench) can subtract a snapshot taken before its
  // run from one taken after and get exact percentiles of its own window.
  app.get('/metrics/hdr', async () => ({
    takenAt: new Date().toISOString(),
    histograms: Object.fromEntries(Object.entries(metrics.latency).map(([name, h]) => [name, h.encode()])),
  }))

  app.post('/admin/reset', async (request) => {
    assertAdmin(request, adminToken)
    await gateway.reset()
    return {ok: true, orders: gateway.orders}
  })
}
