import type {IncomingMessage, ServerResponse} from 'node:http'
import {performance} from 'node:perf_hooks'
import type {Counter} from 'prom-client'
import type {Logger} from '../shared/logger.js'
import type {OrderRequest} from './engine.js'
import type {Gateway} from './gateway.js'
import {bearerToken, JwtError, type TokenVerifier} from '../../contract/jwt.js'
import type {GatewayMetrics} from './metrics.js'

/*
 * POST /orders on node:http directly, in front of fastify: the one route that runs thousands of
 * times a second. Fastify's generic request pipeline (hooks, content-type parsers, reply
 * serialisation) cost more than everything the gateway does for an order, so this handler
 * reads, checks and answers the request itself, keeping fastify's error contract:
 * `{error, message, field?}` for bad input and `{status: 'REJECTED', reason, …}` for refusals.
 */

/** Idempotency-Key header. */
export const maxKeyLength = 128
/**
 * clientOrderId (also the idempotency key when there is no header). The seed sets no limit of its
 * own (only its 2 MiB body limit) and its load clients send 1,000 characters ("heavy" requests):
 * 1024 takes those and keeps an order's keys, held in memory and in every WAL line, bounded.
 */
export const maxClientOrderIdLength = 1024

export interface PlaceOrderOptions {
  gateway: Gateway
  metrics: GatewayMetrics
  tokens: TokenVerifier
  bodyLimitBytes: number
  logger: Logger
  /** Answers by status code, e.g. `gateway_order_requests_total{status="202"}`. */
  answers: Counter<'status'>
}

export type OrderBodyCheck = {ok: true; order: OrderRequest} | {ok: false; field: string; message: string}

const sides = new Set(['BUY', 'SELL'])
const types = new Set(['LIMIT', 'MARKET'])
const timesInForce = new Set(['GTC', 'GTD'])
const fields = new Set(['symbol', 'side', 'type', 'qty', 'price', 'timeInForce', 'expireAt', 'clientOrderId'])
// RFC 3339 date-time, as JSON schema's `format: date-time` means it.
const dateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i

/**
 * The body's shape: required fields, types and enums, no unknown field, a price for LIMIT and an
 * expiry for GTD. Business rules (qty, symbol, risk) are the engine's, answered with 422.
 */
export function checkOrderBody(body: unknown): OrderBodyCheck {
  const fail = (field: string, message: string): OrderBodyCheck => ({
    ok: false,
    field,
    message: `body${field ? `.${field}` : ''} ${message}`,
  })
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return fail('', 'must be a JSON object')
  const b = body as Record<string, unknown>
  for (const key of Object.keys(b)) if (!fields.has(key)) return fail(key, 'is not a field of an order')
  for (const key of ['symbol', 'side', 'type', 'qty']) {
    if (b[key] === undefined) return fail(key, `is required`)
  }
  // Which strings are symbols is the engine's rule (422 INVALID_SYMBOL, as the seed answers).
  if (typeof b.symbol !== 'string') return fail('symbol', 'must be a string')
  if (typeof b.side !== 'string' || !sides.has(b.side)) return fail('side', 'must be BUY or SELL')
  if (typeof b.type !== 'string' || !types.has(b.type)) return fail('type', 'must be LIMIT or MARKET')
  if (typeof b.qty !== 'number' || !Number.isFinite(b.qty)) return fail('qty', 'must be a number')
  if (b.price !== undefined && (typeof b.price !== 'number' || !Number.isFinite(b.price) || b.price <= 0)) {
    return fail('price', 'must be a number above 0')
  }
  if (b.type === 'LIMIT' && b.price === undefined) return fail('price', 'is required for a LIMIT order')
  if (
    b.timeInForce !== undefined &&
    (typeof b.timeInForce !== 'string' || !timesInForce.has(b.timeInForce))
  ) {
    return fail('timeInForce', 'must be GTC or GTD')
  }
  if (b.expireAt !== undefined && (typeof b.expireAt !== 'string' || !dateTime.test(b.expireAt))) {
    return fail('expireAt', 'must be an RFC 3339 date-time')
  }
  if (b.timeInForce === 'GTD' && b.expireAt === undefined)
    return fail('expireAt', 'is required for a GTD order')
  if (
    b.clientOrderId !== undefined &&
    (typeof b.clientOrderId !== 'string' ||
      b.clientOrderId.length === 0 ||
      b.clientOrderId.length > maxClientOrderIdLength)
  ) {
    return fail('clientOrderId', `must be a string of 1 to ${maxClientOrderIdLength} characters`)
  }
  return {ok: true, order: b as unknown as OrderRequest}
}

/** The request listener for POST /orders; answers every outcome itself. */
export function placeOrderHandler(
  options: PlaceOrderOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const {gateway, metrics, tokens, bodyLimitBytes, logger, answers} = options
  let requests = 0
  const byStatus = new Map<number, ReturnType<Counter<'status'>['labels']>>()
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    let counter = byStatus.get(status)
    if (!counter) byStatus.set(status, (counter = answers.labels(String(status))))
    counter.inc()
    const json = JSON.stringify(body)
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
      ...headers,
    })
    res.end(json)
  }

  const handle = (
    req: IncomingMessage,
    res: ServerResponse,
    raw: Buffer,
    receivedAt: number,
    requestId: string,
  ) => {
    const header = req.headers.authorization
    const token = bearerToken(header)
    let accountId: string
    if (token === undefined) {
      metrics.unauthorized.inc({reason: 'missing_token'})
      return send(
        res,
        401,
        {
          error: 'unauthorized',
          reason: 'missing_token',
          message: 'send Authorization: Bearer <token> (poc token prints one)',
        },
        {'www-authenticate': 'Bearer'},
      )
    }
    try {
      accountId = tokens.verify(token)
    } catch (error) {
      if (!(error instanceof JwtError)) throw error
      metrics.unauthorized.inc({reason: error.reason})
      return send(
        res,
        401,
        {error: 'unauthorized', reason: error.reason, message: error.message},
        {'www-authenticate': 'Bearer error="invalid_token"'},
      )
    }
    const contentType = req.headers['content-type']
    if (contentType === undefined || !/^application\/json\s*(;|$)/i.test(contentType)) {
      return send(res, 415, {
        error: 'unsupported_media_type',
        message: `content type ${contentType ?? '(none)'} is not supported; send application/json`,
      })
    }
    let parsed: unknown
    try {
      if (raw.length === 0) throw new SyntaxError('empty body')
      parsed = JSON.parse(raw.toString('utf8'))
    } catch {
      return send(res, 400, {
        error: 'invalid_json',
        message: 'the request body is not valid JSON; send a JSON document',
      })
    }
    const checked = checkOrderBody(parsed)
    if (!checked.ok)
      return send(res, 400, {error: 'validation_failed', message: checked.message, field: checked.field})
    const body = checked.order
    const keyHeader = req.headers['idempotency-key']
    const headerKey = Array.isArray(keyHeader) ? keyHeader[0] : keyHeader
    const key = headerKey ?? body.clientOrderId
    if (key === undefined || key === '') {
      return send(res, 400, {
        status: 'REJECTED',
        reason: 'IDEMPOTENCY_REQUIRED',
        error: 'IDEMPOTENCY_REQUIRED',
        message: 'send an Idempotency-Key header or a clientOrderId, so a retry cannot place the order twice',
        requestId,
      })
    }
    if (headerKey !== undefined && headerKey.length > maxKeyLength) {
      return send(res, 400, {
        error: 'validation_failed',
        message: `Idempotency-Key is longer than ${maxKeyLength} characters`,
        field: 'Idempotency-Key',
      })
    }
    const outcome = gateway.place(accountId, key, body, receivedAt)
    if (outcome.kind === 'rejected') {
      const retryAfter = 'retryAfterSec' in outcome && outcome.retryAfterSec !== undefined
      return send(
        res,
        outcome.status,
        {
          status: 'REJECTED',
          reason: outcome.reason,
          error: outcome.reason,
          message: outcome.message,
          requestId,
          ...(body.clientOrderId === undefined ? {} : {clientOrderId: body.clientOrderId}),
        },
        retryAfter ? {'retry-after': String(outcome.retryAfterSec)} : {},
      )
    }
    const order = outcome.order
    const accept = () => {
      metrics.latency.ack.record((performance.now() - receivedAt) * 1000)
      send(res, 202, {
        orderId: order.orderId,
        acceptSeq: order.acceptSeq,
        requestId,
        clientOrderId: order.clientOrderId,
        status: 'ACCEPTED',
        ...(outcome.kind === 'replayed' ? {replayed: true} : {}),
      })
    }
    if (!gateway.syncWal || order.durable) return accept()
    // AUDIT_ASYNC_WAL=false: no 202 before the order's record is on disk.
    gateway.whenDurable(order).then(accept, (error: Error) =>
      send(res, 503, {
        status: 'REJECTED',
        reason: 'WAL_UNAVAILABLE',
        error: 'WAL_UNAVAILABLE',
        message: `the order could not be made durable (${error.message}); it was not accepted, see /health`,
        requestId,
      }),
    )
  }

  return (req, res) => {
    const receivedAt = performance.now()
    const requestId = `order-${++requests}`
    const chunks: Buffer[] = []
    let size = 0
    let refused = false
    req.on('data', (chunk: Buffer) => {
      if (refused) return
      size += chunk.length
      if (size > bodyLimitBytes) {
        refused = true
        send(
          res,
          413,
          {
            error: 'payload_too_large',
            message: `the request body is larger than the limit of ${bodyLimitBytes} bytes`,
          },
          {connection: 'close'},
        )
        // Reading on would spend time on a body that is already refused.
        res.once('finish', () => req.socket.destroy())
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (refused) return
      try {
        handle(
          req,
          res,
          chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks),
          receivedAt,
          requestId,
        )
      } catch (error) {
        // A bug, not bad input: the one case worth a stack trace.
        logger.error({err: error, requestId}, 'unhandled error in POST /orders')
        if (!res.headersSent) {
          send(res, 500, {
            error: 'internal',
            message: `internal error (request ${requestId}); the service log has the details`,
          })
        }
      }
    })
  }
}
