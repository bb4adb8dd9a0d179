import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {OrderBook} from '../../src/services/gateway/book.js'
import {
  type EngineEvent,
  type EngineLimits,
  type JournalType,
  OrderEngine,
  type OrderRequest,
} from '../../src/services/gateway/engine.js'

const limits = {
  symbols: new Set(['BTC', 'ETH']),
  maxSymbols: 3,
  maxOrderQty: 10_000,
  maxNotional: 1e9,
  queueCapacity: 4,
}

function engine(now = () => Date.parse('2026-11-23T00:00:00Z'), overrides: Partial<EngineLimits> = {}) {
  const records: Array<{seq: number; type: JournalType; data: Record<string, unknown>}> = []
  const events: EngineEvent[] = []
  const journal = {
    append: (type: JournalType, data: Record<string, unknown>) => {
      const seq = records.length + 1
      records.push({seq, type, data: structuredClone(data)})
      return {seq}
    },
  }
  return {
    engine: new OrderEngine({...limits, ...overrides}, journal, (e) => events.push(structuredClone(e)), now),
    records,
    events,
  }
}

const limit = (side: 'BUY' | 'SELL', qty: number, price: number): OrderRequest => ({
  symbol: 'BTC',
  side,
  type: 'LIMIT',
  qty,
  price,
})

describe('order book (price-time priority)', () => {
  it('fills the best price first, then the earliest at that price, at the resting price', () => {
    const book = new OrderBook()
    book.submit({orderId: 'a', side: 'SELL', price: 101, seq: 1, remaining: 5}, 0)
    book.submit({orderId: 'b', side: 'SELL', price: 100, seq: 2, remaining: 5}, 0)
    book.submit({orderId: 'c', side: 'SELL', price: 100, seq: 3, remaining: 5}, 0)
    const result = book.submit({orderId: 't', side: 'BUY', price: 101, seq: 4, remaining: 12}, 0)
    assert.deepEqual(
      result.fills.map((f) => [f.makerId, f.qty, f.price]),
      [
        ['b', 5, 100],
        ['c', 5, 100],
        ['a', 2, 101],
      ],
    )
    assert.equal(result.remaining, 0)
    assert.deepEqual(book.depth(), {bids: 0, asks: 1})
  })

  it('rests a LIMIT that does not cross, never a MARKET, and skips expired resting orders', () => {
    const book = new OrderBook()
    assert.equal(
      book.submit({orderId: 'b1', side: 'BUY', price: 99, seq: 1, remaining: 3}, 0).fills.length,
      0,
    )
    book.submit({orderId: 'b2', side: 'BUY', price: 98, seq: 2, remaining: 3, expireAtMs: 10}, 0)
    const market = book.submit({orderId: 'm', side: 'SELL', seq: 3, remaining: 5}, 20)
    assert.deepEqual(
      market.fills.map((f) => [f.makerId, f.qty]),
      [['b1', 3]],
    )
    assert.deepEqual(market.expired, ['b2'])
    assert.equal(market.remaining, 2)
    assert.deepEqual(book.depth(), {bids: 0, asks: 0}, 'the MARKET rest does not rest')
    assert.equal(book.cancel('b1'), false)
  })
})

describe('order engine', () => {
  it('accepts, journals and queues; matching happens only on drain', () => {
    const {engine: e, records, events} = engine()
    const sell = e.accept('acct-1', 'k1', limit('SELL', 5, 100))
    const buy = e.accept('acct-2', 'k2', limit('BUY', 3, 100))
    assert.equal(sell.kind, 'accepted')
    assert.equal(buy.kind, 'accepted')
    assert.deepEqual(
      records.map((r) => [r.seq, r.type]),
      [
        [1, 'order_accepted'],
        [2, 'order_accepted'],
      ],
    )
    assert.equal(e.queueLength, 2)
    assert.equal(e.get(sell.kind === 'accepted' ? sell.order.orderId : '')?.status, 'ACCEPTED')
    const latencies = e.drain()
    assert.equal(latencies.length, 2)
    assert.ok(latencies.every((us) => us >= 0))
    assert.equal(e.queueLength, 0)
    const [sellOrder, buyOrder] = [sell, buy].map((o) => (o.kind === 'accepted' ? o.order : undefined))
    assert.equal(sellOrder?.status, 'PARTIALLY_FILLED')
    assert.equal(sellOrder?.filledQty, 3)
    assert.equal(buyOrder?.status, 'FILLED')
    assert.deepEqual(
      events.map((ev) => [ev.type, ev.order.orderId, ev.order.status]),
      [
        ['order_accepted', sellOrder?.orderId, 'ACCEPTED'],
        ['order_accepted', buyOrder?.orderId, 'ACCEPTED'],
        ['order_update', sellOrder?.orderId, 'PARTIALLY_FILLED'],
        ['order_update', buyOrder?.orderId, 'FILLED'],
      ],
    )
  })

  it('replays an idempotency key with the original order, per account', () => {
    const {engine: e, records} = engine()
    const first = e.accept('acct-1', 'same', limit('BUY', 1, 10))
    const again = e.accept('acct-1', 'same', limit('BUY', 999, 10))
    const other = e.accept('acct-2', 'same', limit('BUY', 1, 10))
    assert.equal(again.kind, 'replayed')
    assert.equal(
      again.kind === 'replayed' && again.order.orderId,
      first.kind === 'accepted' && first.order.orderId,
    )
    assert.equal(other.kind, 'accepted', 'another account may use the same key')
    assert.equal(records.length, 2)
  })

  it('rejects with the reasons of SPEC §4.5, journaling nothing', () => {
    const {engine: e, records} = engine()
    const cases: Array<[OrderRequest, number, string]> = [
      [limit('BUY', 0, 10), 422, 'INVALID_QTY'],
      [limit('BUY', 1.5, 10), 422, 'INVALID_QTY'],
      [{...limit('BUY', 1, 10), symbol: 'DOGE'}, 422, 'INVALID_SYMBOL'],
      [limit('BUY', 10_001, 1), 422, 'RISK_REJECT'],
      [limit('BUY', 10_000, 200_000), 422, 'RISK_REJECT'],
    ]
    for (const [request, status, reason] of cases) {
      const outcome = e.accept('acct', `k-${reason}-${request.qty}`, request)
      assert.equal(outcome.kind, 'rejected', JSON.stringify(request))
      if (outcome.kind === 'rejected') {
        assert.equal(outcome.status, status)
        assert.equal(outcome.reason, reason)
      }
    }
    assert.equal(records.length, 0)
  })

  it('refuses with 503 QUEUE_REJECT when the bounded queue is full, and accepts again after a drain', () => {
    const {engine: e} = engine()
    for (let i = 0; i < limits.queueCapacity; i++)
      assert.equal(e.accept('a', `q${i}`, limit('BUY', 1, 1)).kind, 'accepted')
    const full = e.accept('a', 'q-full', limit('BUY', 1, 1))
    assert.equal(full.kind === 'rejected' && full.reason, 'QUEUE_REJECT')
    assert.equal(full.kind === 'rejected' && full.status, 503)
    e.drain()
    assert.equal(e.accept('a', 'q-after', limit('BUY', 1, 1)).kind, 'accepted')
  })

  it('cancels a resting order once; a final order answers final; another account sees nothing', () => {
    const {engine: e, records} = engine()
    const resting = e.accept('a', 'r', limit('BUY', 2, 50))
    e.drain()
    const id = resting.kind === 'accepted' ? resting.order.orderId : ''
    assert.equal(e.cancel('b', id).kind, 'not_found')
    assert.equal(e.cancel('a', id).kind, 'requested')
    assert.equal(e.cancel('a', id).kind, 'final', 'a second cancel is not journaled again')
    e.drain()
    assert.equal(e.get(id)?.status, 'CANCELED')
    assert.equal(records.filter((r) => r.type === 'cancel_requested').length, 1)
    // The book no longer holds it: a crossing sell finds nothing.
    e.accept('c', 's', limit('SELL', 2, 50))
    e.drain()
    assert.equal(e.get(id)?.filledQty, 0)
  })

  it('rebuilds the same orders, fills and idempotency from its journal', () => {
    const live = engine()
    live.engine.accept('a', 'k1', limit('SELL', 5, 100))
    live.engine.accept('b', 'k2', {...limit('BUY', 2, 100), clientOrderId: 'cid-1'})
    live.engine.drain()
    live.engine.accept('a', 'k3', limit('BUY', 1, 90))
    live.engine.drain()
    const first = live.engine.get('ORD-0000000003')
    if (first) live.engine.cancel('a', first.orderId)
    live.engine.drain()

    const restarted = engine()
    for (const record of live.records) restarted.engine.replay(record)
    for (const id of ['ORD-0000000001', 'ORD-0000000002', 'ORD-0000000003']) {
      const before = live.engine.get(id)
      const after = restarted.engine.get(id)
      assert.deepEqual(
        {status: after?.status, filled: after?.filledQty, seq: after?.acceptSeq, durable: after?.durable},
        {status: before?.status, filled: before?.filledQty, seq: before?.acceptSeq, durable: true},
        id,
      )
    }
    const replayed = restarted.engine.accept('b', 'k2', limit('BUY', 2, 100))
    assert.equal(replayed.kind === 'replayed' && replayed.order.orderId, 'ORD-0000000002')
    assert.equal(restarted.engine.byClientOrderId('b', 'cid-1')?.orderId, 'ORD-0000000002')
    const next = restarted.engine.accept('c', 'k4', limit('BUY', 1, 1))
    assert.equal(next.kind === 'accepted' && next.order.orderId, 'ORD-0000000004', 'ids continue')
  })

  it('trades any well-formed symbol without SYMBOLS, up to MAX_SYMBOLS distinct ones', () => {
    const {engine: e} = engine(undefined, {symbols: undefined, maxSymbols: 3})
    const reasonOf = (symbol: string, key: string) => {
      const outcome = e.accept('acct', key, {...limit('BUY', 1, 10), symbol})
      return outcome.kind === 'rejected'
        ? `${outcome.status} ${outcome.reason}: ${outcome.message}`
        : outcome.kind
    }
    assert.equal(reasonOf('AAPL', 'a1'), 'accepted')
    assert.equal(reasonOf('BTCUSD', 'a2'), 'accepted')
    for (const [symbol, i] of [
      ['aapl', 1],
      ['', 2],
      ['BTC/USD', 3],
      ['A'.repeat(33), 4],
      ['A B', 5],
    ] as const)
      assert.match(
        reasonOf(symbol, `bad${i}`),
        /^422 INVALID_SYMBOL: symbol ".*" is not 1 to 32 characters of A-Z/,
      )
    assert.equal(reasonOf('BRK.B_X-1', 'a3'), 'accepted')
    assert.match(
      reasonOf('MSFT', 'a4'),
      /^422 INVALID_SYMBOL: symbol "MSFT" would be one more than the 3 symbols .*MAX_SYMBOLS/,
    )
    assert.equal(reasonOf('AAPL', 'a5'), 'accepted', 'a symbol already traded is still taken at the cap')
    assert.equal(e.symbolCount, 3)
  })

  it('trades only the SYMBOLS list when it is set, whatever MAX_SYMBOLS says', () => {
    const {engine: e} = engine(undefined, {symbols: new Set(['BTC', 'ETH', 'SOL']), maxSymbols: 1})
    for (const [i, symbol] of ['BTC', 'ETH', 'SOL'].entries())
      assert.equal(e.accept('a', `k${i}`, {...limit('BUY', 1, 1), symbol}).kind, 'accepted')
    const aapl = e.accept('a', 'k-aapl', {...limit('BUY', 1, 1), symbol: 'AAPL'})
    assert.equal(aapl.kind === 'rejected' && aapl.reason, 'INVALID_SYMBOL')
    assert.match(
      aapl.kind === 'rejected' ? aapl.message : '',
      /this gateway trades BTC, ETH, SOL \(SYMBOLS\)/,
    )
  })

  it('replays the symbols of its journal past MAX_SYMBOLS, then admits no new one', () => {
    const first = engine(undefined, {symbols: undefined, maxSymbols: 5})
    for (const [i, symbol] of ['A', 'B', 'C'].entries())
      first.engine.accept('a', `k${i}`, {...limit('BUY', 1, 1), symbol})
    const restarted = engine(undefined, {symbols: undefined, maxSymbols: 2})
    for (const record of first.records) restarted.engine.replay(record)
    assert.equal(restarted.engine.symbolCount, 3)
    assert.equal(restarted.engine.accept('a', 'again', {...limit('BUY', 1, 1), symbol: 'C'}).kind, 'accepted')
    const fresh = restarted.engine.accept('a', 'new', {...limit('BUY', 1, 1), symbol: 'D'})
    assert.equal(fresh.kind === 'rejected' && fresh.reason, 'INVALID_SYMBOL')
  })

  it('queues, drains and counts a probe like an order, touching no order, book or journal', () => {
    const {engine: e, records, events} = engine()
    assert.deepEqual(e.probe(), {kind: 'queued'})
    assert.equal(e.accept('a', 'k', limit('BUY', 1, 1)).kind, 'accepted')
    assert.equal(e.queueLength, 2)
    assert.equal(e.drain().length, 2)
    assert.equal(e.processed, 2)
    assert.equal(e.size, 1)
    assert.equal(records.length, 1)
    assert.deepEqual(
      events.map((ev) => ev.type),
      ['order_accepted'],
    )
    for (let i = 0; i < limits.queueCapacity; i++) e.probe()
    const full = e.probe()
    assert.equal(full.kind === 'rejected' && `${full.status} ${full.reason}`, '503 QUEUE_REJECT')
  })
})
