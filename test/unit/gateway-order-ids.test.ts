import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {OrderEngine, type JournalType} from '../../src/services/gateway/engine.js'
import {OrderIdReservation} from '../../src/services/gateway/order-ids.js'

const dir = mkdtempSync(path.join(tmpdir(), 'poc-order-ids-'))
after(() => rmSync(dir, {recursive: true, force: true}))

const order = {symbol: 'BTC', side: 'BUY', type: 'LIMIT', qty: 1, price: 100} as const

function engine() {
  let seq = 0
  const journal = {append: (_type: JournalType, _data: Record<string, unknown>) => ({seq: ++seq})}
  return new OrderEngine(
    {symbols: new Set(['BTC']), maxSymbols: 8, maxOrderQty: 10, maxNotional: 1e9, queueCapacity: 100},
    journal,
  )
}

describe('order id reservation', () => {
  it('starts at nothing, keeps what it reserved across a reopen, and never goes back', async () => {
    const file = path.join(dir, 'a.json')
    const ids = await OrderIdReservation.open(file, 10)
    assert.equal(ids.reservedThrough, 0)
    await ids.reserve(10)
    await ids.reserve(5)
    assert.equal(ids.reservedThrough, 10)
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {reservedThrough: 10})
    assert.equal((await OrderIdReservation.open(file, 10)).reservedThrough, 10)
  })

  it('refuses a file that is not a reservation rather than numbering from 1', async () => {
    const file = path.join(dir, 'bad.json')
    for (const content of ['{', '{"reservedThrough":-1}', '{"reservedThrough":1.5}', '[]']) {
      writeFileSync(file, content)
      await assert.rejects(OrderIdReservation.open(file, 10), /unreadable/)
    }
  })

  it('tops up in the background once half a block is used, and the engine stops at the limit', async () => {
    const file = path.join(dir, 'b.json')
    const ids = await OrderIdReservation.open(file, 4)
    await ids.reserve(4)
    const e = engine()
    e.number(ids.reservedThrough + 1 - 4, ids.reservedThrough)
    const ids1 = [1, 2, 3, 4].map((n) => e.accept('a', `k${n}`, order))
    assert.deepEqual(
      ids1.map((o) => o.kind === 'accepted' && o.order.orderId),
      ['ORD-0000000001', 'ORD-0000000002', 'ORD-0000000003', 'ORD-0000000004'],
    )
    const refused = e.accept('a', 'k5', order)
    assert.equal(refused.kind === 'rejected' && refused.reason, 'ORDER_IDS_UNAVAILABLE')
    assert.equal(refused.kind === 'rejected' && refused.status, 503)
    const reserved = await new Promise<number>((resolve, reject) =>
      ids.topUp(e.nextOrderNumber, {reserved: resolve, failed: reject}),
    )
    assert.equal(reserved, 5 + 4)
    e.extendIds(reserved)
    const next = e.accept('a', 'k5', order)
    assert.equal(next.kind === 'accepted' && next.order.orderId, 'ORD-0000000005')
  })

  it('numbers past every replayed order and past the reservation, whichever is later', () => {
    const e = engine()
    e.replay({
      seq: 1,
      type: 'order_accepted',
      data: {orderId: 'ORD-0000000007', accountId: 'a', idempotencyKey: 'x', ...order, status: 'ACCEPTED'},
    })
    e.number(3, 100)
    assert.equal(e.nextOrderNumber, 8)
    e.number(51, 150)
    assert.equal(e.nextOrderNumber, 51)
  })
})
