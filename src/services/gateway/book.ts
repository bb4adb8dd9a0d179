/**
 * A per-symbol order book with price-time priority: the best price trades first, and among
 * equal prices the order accepted first. MARKET orders take what the book offers and never
 * rest; a LIMIT order's unfilled rest waits in the book until filled, canceled or expired.
 */

export type Side = 'BUY' | 'SELL'

export interface RestingOrder {
  orderId: string
  side: Side
  /** LIMIT price; undefined for MARKET (never rests). */
  price?: number
  /** Accept sequence: time priority among equal prices. */
  seq: number
  remaining: number
  /** GTD: ms epoch after which it no longer trades. */
  expireAtMs?: number
}

export interface Fill {
  /** The order that arrived and took liquidity. */
  takerId: string
  /** The resting order it traded with. */
  makerId: string
  qty: number
  /** Always the resting order's price. */
  price: number
}

export interface MatchResult {
  fills: Fill[]
  /** The taker's quantity left after matching (rests for LIMIT, is dropped for MARKET). */
  remaining: number
  /** Resting orders found expired while matching, taken out of the book. */
  expired: string[]
}

/** One price of one side: its resting orders in time order, consumed from `head`. */
interface Level {
  price: number
  orders: RestingOrder[]
  head: number
}

/**
 * One side of a book: price levels kept best first (few, so a sorted array), each a FIFO queue.
 * Resting, filling and canceling cost O(log levels), never a shift of every resting order.
 */
class BookSide {
  private readonly levels = new Map<number, Level>()
  /** Best first: descending for bids, ascending for asks. */
  private readonly prices: number[] = []
  size = 0

  constructor(private readonly descending: boolean) {}

  /** The best live resting order, dropping canceled ones and empty levels on the way. */
  best(): RestingOrder | undefined {
    while (this.prices.length > 0) {
      const level = this.levels.get(this.prices[0] as number) as Level
      while (level.head < level.orders.length) {
        const order = level.orders[level.head] as RestingOrder
        if (order.remaining > 0) return order
        level.head++
      }
      this.levels.delete(level.price)
      this.prices.shift()
    }
    return undefined
  }

  /** Takes the best order out once it is filled or expired (it must be what best() returned). */
  removeBest(): void {
    const level = this.levels.get(this.prices[0] as number) as Level
    level.head++
    this.size--
    if (level.head > 1024 && level.head * 2 > level.orders.length) {
      level.orders = level.orders.slice(level.head)
      level.head = 0
    }
  }

  add(order: RestingOrder): void {
    const price = order.price as number
    let level = this.levels.get(price)
    if (!level) {
      level = {price, orders: [], head: 0}
      this.levels.set(price, level)
      // Binary search for the first price this one does not beat.
      let low = 0
      let high = this.prices.length
      while (low < high) {
        const mid = (low + high) >>> 1
        const other = this.prices[mid] as number
        if (this.descending ? other > price : other < price) low = mid + 1
        else high = mid
      }
      this.prices.splice(low, 0, price)
    }
    level.orders.push(order)
    this.size++
  }

  /** Marks a resting order gone; best() skips it later. */
  cancel(order: RestingOrder): void {
    order.remaining = 0
    this.size--
  }
}

export class OrderBook {
  private readonly bids = new BookSide(true)
  private readonly asks = new BookSide(false)
  /** Resting orders by id, for cancel. */
  private readonly resting = new Map<string, RestingOrder>()

  /** Matches an incoming order against the other side and rests what a LIMIT order has left. */
  submit(order: RestingOrder, nowMs: number): MatchResult {
    const opposite = order.side === 'BUY' ? this.asks : this.bids
    const fills: Fill[] = []
    const expired: string[] = []
    let remaining = order.remaining
    let best: RestingOrder | undefined
    while (remaining > 0 && (best = opposite.best())) {
      if (best.expireAtMs !== undefined && best.expireAtMs <= nowMs) {
        opposite.removeBest()
        this.resting.delete(best.orderId)
        best.remaining = 0
        expired.push(best.orderId)
        continue
      }
      if (!crosses(order, best.price as number)) break
      const qty = Math.min(remaining, best.remaining)
      fills.push({takerId: order.orderId, makerId: best.orderId, qty, price: best.price as number})
      remaining -= qty
      best.remaining -= qty
      if (best.remaining === 0) {
        opposite.removeBest()
        this.resting.delete(best.orderId)
      }
    }
    if (remaining > 0 && order.price !== undefined) {
      const rest = {...order, remaining}
      ;(order.side === 'BUY' ? this.bids : this.asks).add(rest)
      this.resting.set(rest.orderId, rest)
    }
    return {fills, remaining, expired}
  }

  /** Takes a resting order out; false when it is not in the book (filled, or never rested). */
  cancel(orderId: string): boolean {
    const order = this.resting.get(orderId)
    if (!order) return false
    this.resting.delete(orderId)
    ;(order.side === 'BUY' ? this.bids : this.asks).cancel(order)
    return true
  }

  depth(): {bids: number; asks: number} {
    return {bids: this.bids.size, asks: this.asks.size}
  }
}

function crosses(taker: RestingOrder, makerPrice: number): boolean {
  if (taker.price === undefined) return true
  return taker.side === 'BUY' ? taker.price >= makerPrice : taker.price <= makerPrice
}
