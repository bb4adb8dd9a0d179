import {OrderBook, type Side} from './book.js'
import {SymbolPolicy} from './symbols.js'

/**
 * The gateway's order engine (SPEC §4.5), without HTTP: validate → risk → idempotency → journal
 * → bounded queue on the fast path; a drain step moves queued orders through the per-symbol
 * books. Everything here is synchronous and in memory, so the fast path never waits on disk,
 * broker or network: the journal's `durable` promise is for the caller to announce.
 */

export type OrderType = 'LIMIT' | 'MARKET'
export type TimeInForce = 'GTC' | 'GTD'
export type OrderStatus =
  'ACCEPTED' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCEL_REQUESTED' | 'CANCELED' | 'EXPIRED'

export type RejectReason =
  'INVALID_QTY' | 'RISK_REJECT' | 'INVALID_SYMBOL' | 'QUEUE_REJECT' | 'ORDER_IDS_UNAVAILABLE'

export interface OrderRequest {
  symbol: string
  side: Side
  type: OrderType
  qty: number
  price?: number
  timeInForce?: TimeInForce
  /** GTD only: ISO time after which the order no longer trades. */
  expireAt?: string
  clientOrderId?: string
}

export interface Order {
  orderId: string
  acceptSeq: number
  accountId: string
  idempotencyKey: string
  clientOrderId?: string
  symbol: string
  side: Side
  type: OrderType
  qty: number
  price?: number
  timeInForce: TimeInForce
  expireAt?: string
  status: OrderStatus
  filledQty: number
  acceptedAt: string
  /** Its journal record is on disk (order_durable was announced). */
  durable: boolean
}

export interface EngineLimits {
  /** SYMBOLS: the only symbols traded; undefined: any well-formed symbol (see symbols.ts). */
  symbols?: ReadonlySet<string>
  /** MAX_SYMBOLS: distinct symbols admitted when `symbols` is undefined. */
  maxSymbols: number
  /** MAX_ORDER_QTY */
  maxOrderQty: number
  /** MAX_NOTIONAL: qty × price of a LIMIT order. */
  maxNotional: number
  /** QUEUE_CAPACITY: orders accepted but not yet drained. */
  queueCapacity: number
}

/** What the engine writes ahead: the WAL, whose append is synchronous and whose flush is not. */
export interface Journal {
  append(type: JournalType, data: Record<string, unknown>): {seq: number}
}

export type JournalType = 'order_accepted' | 'cancel_requested'

export type EngineEvent =
  | {type: 'order_accepted'; order: Order}
  | {type: 'order_update'; order: Order; fill?: {qty: number; price: number; counterOrderId: string}}

export type AcceptOutcome =
  | {kind: 'accepted'; order: Order}
  | {kind: 'replayed'; order: Order}
  | {kind: 'rejected'; status: 422 | 503; reason: RejectReason; message: string}

export type CancelOutcome =
  {kind: 'requested'; order: Order} | {kind: 'final'; order: Order} | {kind: 'not_found'}

const finalStatuses: ReadonlySet<OrderStatus> = new Set(['FILLED', 'CANCELED', 'EXPIRED'])

export function isFinal(status: OrderStatus): boolean {
  return finalStatuses.has(status)
}

interface Queued {
  /** A probe (POST /events, the seed's canary ingress) only rides the queue: no order, no book. */
  kind: 'order' | 'cancel' | 'probe'
  order?: Order
  /** performance.now() at enqueue: fast-path processing latency ends at drain. */
  enqueuedAt: number
}

export class OrderEngine {
  private readonly orders = new Map<string, Order>()
  /** account ␀ idempotency key → orderId */
  private readonly byKey = new Map<string, string>()
  /** account ␀ clientOrderId → orderId */
  private readonly byClientId = new Map<string, string>()
  private readonly books = new Map<string, OrderBook>()
  private readonly symbols: SymbolPolicy
  private queue: Queued[] = []
  private queueHead = 0
  private nextOrder = 1
  /** The last order number reserved on disk (see order-ids.ts); no limit without a reservation. */
  private idLimit = Number.POSITIVE_INFINITY
  /** Items (orders, cancels, probes) the drain has processed. */
  private drained = 0

  constructor(
    private readonly limits: EngineLimits,
    private readonly journal: Journal,
    private readonly emit: (event: EngineEvent) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.symbols = new SymbolPolicy(limits.symbols, limits.maxSymbols)
  }

  get queueLength(): number {
    return this.queue.length - this.queueHead
  }

  get size(): number {
    return this.orders.size
  }

  /** Distinct symbols with an order (their books exist or will once drained). */
  get symbolCount(): number {
    return this.symbols.size
  }

  get processed(): number {
    return this.drained
  }

  /** Why the engine does not trade this symbol at all; undefined if it does (orders may still hit MAX_SYMBOLS). */
  symbolRefusal(symbol: string): string | undefined {
    return this.symbols.refusal(symbol)
  }

  /**
   * Puts a probe on the fast-path queue (a seed canary event): it is queued, drained and timed
   * like an order, and touches no order, book, journal or stream.
   */
  probe(): {kind: 'queued'} | {kind: 'rejected'; status: 503; reason: 'QUEUE_REJECT'; message: string} {
    if (this.queueLength >= this.limits.queueCapacity) return this.queueFull()
    this.queue.push({kind: 'probe', enqueuedAt: performance.now()})
    return {kind: 'queued'}
  }

  /** The number the next accepted order gets. */
  get nextOrderNumber(): number {
    return this.nextOrder
  }

  /**
   * After replay: numbering continues at `next` (at least past every replayed order) and never
   * passes `limit`, the last number reserved on disk.
   */
  number(next: number, limit: number): void {
    this.nextOrder = Math.max(this.nextOrder, next)
    this.idLimit = limit
  }

  /** Raises the limit once the next block is on disk. */
  extendIds(limit: number): void {
    this.idLimit = Math.max(this.idLimit, limit)
  }

  /** The order an account already placed under this idempotency key. */
  lookup(accountId: string, idempotencyKey: string): Order | undefined {
    const known = this.byKey.get(scoped(accountId, idempotencyKey))
    return known === undefined ? undefined : this.orders.get(known)
  }

  /** The fast path: answers at once; the order is queued for the drain and journaled. */
  accept(accountId: string, idempotencyKey: string, request: OrderRequest): AcceptOutcome {
    const known = this.lookup(accountId, idempotencyKey)
    if (known !== undefined) return {kind: 'replayed', order: known}
    const refused = this.check(request)
    if (refused) return refused
    if (this.queueLength >= this.limits.queueCapacity) return this.queueFull()
    if (this.nextOrder > this.idLimit) {
      return {
        kind: 'rejected',
        status: 503,
        reason: 'ORDER_IDS_UNAVAILABLE',
        message: 'no order id is reserved on disk yet (the reservation write is late or failing); retry',
      }
    }
    const order = this.newOrder(accountId, idempotencyKey, request)
    this.symbols.admit(order.symbol)
    order.acceptSeq = this.journal.append('order_accepted', toRecord(order)).seq
    this.index(order)
    this.enqueue('order', order)
    this.emit({type: 'order_accepted', order})
    return {kind: 'accepted', order}
  }

  cancel(accountId: string, orderId: string): CancelOutcome {
    const order = this.orders.get(orderId)
    if (!order || order.accountId !== accountId) return {kind: 'not_found'}
    if (isFinal(order.status) || order.status === 'CANCEL_REQUESTED') return {kind: 'final', order}
    this.journal.append('cancel_requested', {orderId, accountId})
    order.status = 'CANCEL_REQUESTED'
    this.enqueue('cancel', order)
    this.emit({type: 'order_update', order})
    return {kind: 'requested', order}
  }

  /**
   * Processes up to `max` queued orders and cancels through the books; answers the
   * fast-path processing latency (enqueue → processed) of each, in µs.
   */
  drain(max = Number.POSITIVE_INFINITY): number[] {
    const latencies: number[] = []
    while (this.queueHead < this.queue.length && latencies.length < max) {
      const item = this.queue[this.queueHead++] as Queued
      if (item.kind === 'order') this.match(item.order as Order)
      else if (item.kind === 'cancel') this.applyCancel(item.order as Order)
      this.drained++
      latencies.push((performance.now() - item.enqueuedAt) * 1000)
    }
    // Drop the processed prefix now and then, not on every drain.
    if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead)
      this.queueHead = 0
    }
    return latencies
  }

  /** Rebuilds orders and books from journal records, in seq order (a restart). */
  replay(record: {seq: number; type: string; data: Record<string, unknown>}): void {
    if (record.type === 'order_accepted') {
      const order = fromRecord(record.data, record.seq)
      if (this.orders.has(order.orderId)) return
      this.index(order)
      this.symbols.admit(order.symbol)
      this.nextOrder = Math.max(this.nextOrder, orderNumber(order.orderId) + 1)
      this.match(order)
    } else if (record.type === 'cancel_requested') {
      const order = this.orders.get(String(record.data.orderId))
      if (order && !isFinal(order.status)) this.applyCancel(order)
    }
  }

  get(orderId: string): Order | undefined {
    return this.orders.get(orderId)
  }

  byClientOrderId(accountId: string, clientOrderId: string): Order | undefined {
    const id = this.byClientId.get(scoped(accountId, clientOrderId))
    return id === undefined ? undefined : this.orders.get(id)
  }

  /** 422 reasons, in the order SPEC §4.5 lists them. */
  private check(request: OrderRequest): AcceptOutcome | undefined {
    const reject = (reason: RejectReason, message: string): AcceptOutcome => ({
      kind: 'rejected',
      status: 422,
      reason,
      message,
    })
    if (!Number.isInteger(request.qty) || request.qty <= 0)
      return reject('INVALID_QTY', `qty must be a positive whole number, got ${request.qty}`)
    const symbolRefused = this.symbols.orderRefusal(request.symbol)
    if (symbolRefused !== undefined) return reject('INVALID_SYMBOL', symbolRefused)
    if (request.qty > this.limits.maxOrderQty)
      return reject('RISK_REJECT', `qty ${request.qty} is over the limit of ${this.limits.maxOrderQty}`)
    if (request.price !== undefined && request.qty * request.price > this.limits.maxNotional) {
      return reject(
        'RISK_REJECT',
        `notional ${request.qty * request.price} is over the limit of ${this.limits.maxNotional}`,
      )
    }
    return undefined
  }

  private queueFull() {
    return {
      kind: 'rejected' as const,
      status: 503 as const,
      reason: 'QUEUE_REJECT' as const,
      message: `the order queue is full (${this.limits.queueCapacity})`,
    }
  }

  private newOrder(accountId: string, idempotencyKey: string, request: OrderRequest): Order {
    return {
      orderId: `ORD-${String(this.nextOrder++).padStart(10, '0')}`,
      acceptSeq: 0,
      accountId,
      idempotencyKey,
      clientOrderId: request.clientOrderId,
      symbol: request.symbol,
      side: request.side,
      type: request.type,
      qty: request.qty,
      price: request.type === 'LIMIT' ? request.price : undefined,
      timeInForce: request.timeInForce ?? 'GTC',
      expireAt: request.expireAt,
      status: 'ACCEPTED',
      filledQty: 0,
      acceptedAt: this.isoNow(),
      durable: false,
    }
  }

  // Thousands of orders share a millisecond; formatting the time once per millisecond is cheaper.
  private isoMs = Number.NaN
  private iso = ''

  private isoNow(): string {
    const now = this.now()
    if (now !== this.isoMs) {
      this.isoMs = now
      this.iso = new Date(now).toISOString()
    }
    return this.iso
  }

  private index(order: Order): void {
    this.orders.set(order.orderId, order)
    this.byKey.set(scoped(order.accountId, order.idempotencyKey), order.orderId)
    if (order.clientOrderId !== undefined)
      this.byClientId.set(scoped(order.accountId, order.clientOrderId), order.orderId)
  }

  private enqueue(kind: Queued['kind'], order: Order): void {
    this.queue.push({kind, order, enqueuedAt: performance.now()})
  }

  private match(order: Order): void {
    if (isFinal(order.status) || order.status === 'CANCEL_REQUESTED') return
    let book = this.books.get(order.symbol)
    if (!book) this.books.set(order.symbol, (book = new OrderBook()))
    const result = book.submit(
      {
        orderId: order.orderId,
        side: order.side,
        price: order.price,
        seq: order.acceptSeq,
        remaining: order.qty - order.filledQty,
        expireAtMs: order.expireAt === undefined ? undefined : Date.parse(order.expireAt),
      },
      this.now(),
    )
    for (const id of result.expired) {
      const expired = this.orders.get(id)
      if (!expired) continue
      expired.status = 'EXPIRED'
      this.emit({type: 'order_update', order: expired})
    }
    for (const fill of result.fills) {
      const maker = this.orders.get(fill.makerId) as Order
      this.fill(maker, fill.qty, fill.price, order.orderId)
      this.fill(order, fill.qty, fill.price, maker.orderId)
    }
    // A MARKET order's unfilled rest has nothing to wait for.
    if (order.type === 'MARKET' && result.remaining > 0) {
      order.status = 'CANCELED'
      this.emit({type: 'order_update', order})
    }
  }

  private fill(order: Order, qty: number, price: number, counterOrderId: string): void {
    order.filledQty += qty
    if (order.status !== 'CANCEL_REQUESTED')
      order.status = order.filledQty >= order.qty ? 'FILLED' : 'PARTIALLY_FILLED'
    this.emit({type: 'order_update', order, fill: {qty, price, counterOrderId}})
  }

  private applyCancel(order: Order): void {
    if (isFinal(order.status)) return
    this.books.get(order.symbol)?.cancel(order.orderId)
    order.status = 'CANCELED'
    this.emit({type: 'order_update', order})
  }
}

function scoped(accountId: string, key: string): string {
  return `${accountId}\u0000${key}`
}

function orderNumber(orderId: string): number {
  const n = Number(orderId.slice(4))
  return Number.isInteger(n) ? n : 0
}

/** What the journal keeps of an accepted order: enough to rebuild it on restart. */
function toRecord(order: Order): Record<string, unknown> {
  return {
    orderId: order.orderId,
    accountId: order.accountId,
    idempotencyKey: order.idempotencyKey,
    clientOrderId: order.clientOrderId,
    symbol: order.symbol,
    side: order.side,
    type: order.type,
    qty: order.qty,
    price: order.price,
    timeInForce: order.timeInForce,
    expireAt: order.expireAt,
    acceptedAt: order.acceptedAt,
  }
}

function fromRecord(data: Record<string, unknown>, seq: number): Order {
  return {
    orderId: String(data.orderId),
    acceptSeq: seq,
    accountId: String(data.accountId),
    idempotencyKey: String(data.idempotencyKey),
    clientOrderId: data.clientOrderId === undefined ? undefined : String(data.clientOrderId),
    symbol: String(data.symbol),
    side: data.side as Side,
    type: data.type as OrderType,
    qty: Number(data.qty),
    price: data.price === undefined ? undefined : Number(data.price),
    timeInForce: (data.timeInForce as TimeInForce | undefined) ?? 'GTC',
    expireAt: data.expireAt === undefined ? undefined : String(data.expireAt),
    status: 'ACCEPTED',
    filledQty: 0,
    acceptedAt: String(data.acceptedAt),
    durable: true,
  }
}
