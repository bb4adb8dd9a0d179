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

export class OrderBook {
  /** Best first: highest bid, then earliest. */
  private readonly bids: RestingOrder[] = []
  /** Best first: lowest ask, then earliest. */
  private readonly asks: RestingOrder[] = []

  /** Matches an incoming order against the other side and rests what a LIMIT order has left. */
  submit(order: RestingOrder, nowMs: number): MatchResult {
    const opposite = order.side === 'BUY' ? this.asks : this.bids
    const fills: Fill[] = []
    const expired: string[] = []
    let remaining = order.remaining
    while (remaining > 0 && opposite.length > 0) {
      const best = opposite[0] as RestingOrder
      if (best.expireAtMs !== undefined && best.expireAtMs <= nowMs) {
        opposite.shift()
        expired.push(best.orderId)
        continue
      }
      if (!crosses(order, best.price as number)) break
      const qty = Math.min(remaining, best.remaining)
      fills.push({takerId: order.orderId, makerId: best.orderId, qty, price: best.price as number})
      remaining -= qty
      best.remaining -= qty
      if (best.remaining === 0) opposite.shift()
    }
    if (remaining > 0 && order.price !== undefined) this.rest({...order, remaining})
    return {fills, remaining, expired}
  }

  /** Takes a resting order out; false when it is not in the book (filled, or never rested). */
  cancel(orderId: string): boolean {
    for (const side of [this.bids, this.asks]) {
      const index = side.findIndex((o) => o.orderId === orderId)
      if (index >= 0) {
        side.splice(index, 1)
        return true
      }
    }
    return false
  }

  depth(): {bids: number; asks: number} {
    return {bids: this.bids.length, asks: this.asks.length}
  }

  private rest(order: RestingOrder): void {
    const side = order.side === 'BUY' ? this.bids : this.asks
    const better = (a: RestingOrder, b: RestingOrder) =>
      a.price === b.price
        ? a.seq < b.seq
        : order.side === 'BUY'
          ? (a.price as number) > (b.price as number)
          : (a.price as number) < (b.price as number)
    // Binary search for the first resting order this one does not beat.
    let low = 0
    let high = side.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (better(side[mid] as RestingOrder, order)) low = mid + 1
      else high = mid
    }
    side.splice(low, 0, order)
  }
}

function crosses(taker: RestingOrder, makerPrice: number): boolean {
  if (taker.price === undefined) return true
  return taker.side === 'BUY' ? taker.price >= makerPrice : taker.price <= makerPrice
}
