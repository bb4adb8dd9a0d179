import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {EventRing} from '../../src/services/gateway/events.js'
import {JwtError, signJwt, TokenVerifier} from '../../src/contract/jwt.js'
import {checkOrderBody} from '../../src/services/gateway/place-order.js'

const order = {symbol: 'BTC', side: 'BUY', type: 'LIMIT', qty: 1, price: 10}

describe('checkOrderBody', () => {
  it('accepts a complete order and names the field of a bad one', () => {
    assert.deepEqual(checkOrderBody(order), {ok: true, order})
    const cases: Array<[unknown, string]> = [
      [[order], ''],
      [{...order, extra: 1}, 'extra'],
      [{...order, symbol: undefined}, 'symbol'],
      [{...order, side: 'HOLD'}, 'side'],
      [{...order, type: 'STOP'}, 'type'],
      [{...order, qty: '1'}, 'qty'],
      [{...order, price: 0}, 'price'],
      [{...order, price: undefined}, 'price'],
      [{...order, timeInForce: 'GTD'}, 'expireAt'],
      [{...order, timeInForce: 'GTD', expireAt: 'tomorrow'}, 'expireAt'],
      [{...order, clientOrderId: ''}, 'clientOrderId'],
      [{...order, clientOrderId: 'x'.repeat(1025)}, 'clientOrderId'],
      [{...order, symbol: 7}, 'symbol'],
    ]
    for (const [body, field] of cases) {
      const result = checkOrderBody(JSON.parse(JSON.stringify(body)))
      assert.equal(result.ok, false, JSON.stringify(body))
      if (!result.ok) assert.equal(result.field, field, JSON.stringify(body))
    }
    // The seed's heavy requests: a 1,000-character clientOrderId; the symbol's rule is the engine's (422).
    assert.equal(checkOrderBody({...order, clientOrderId: 'X'.repeat(1000)}).ok, true)
    assert.equal(checkOrderBody({...order, clientOrderId: 'X'.repeat(1024)}).ok, true)
    assert.equal(checkOrderBody({...order, symbol: 'not a symbol'}).ok, true)
    // A MARKET order needs no price; qty rules are the engine's (422), not the shape's.
    assert.equal(checkOrderBody({symbol: 'BTC', side: 'SELL', type: 'MARKET', qty: -1}).ok, true)
  })
})

describe('TokenVerifier', () => {
  it('answers a repeated token from its cache, and still refuses it once expired', () => {
    let now = 1_000_000_000_000
    const verifier = new TokenVerifier({secret: 's', clockSkewSeconds: 0, now: () => now})
    const token = signJwt({accountId: 'A'}, 's', {ttlSeconds: 60, now: () => now})
    assert.equal(verifier.verify(token), 'A')
    assert.equal(verifier.verify(token), 'A')
    now += 61_000
    assert.throws(
      () => verifier.verify(token),
      (error: unknown) => error instanceof JwtError && error.reason === 'expired',
    )
    assert.throws(() => verifier.verify(signJwt({accountId: 'A'}, 'other')), JwtError)
  })
})

describe('EventRing', () => {
  it('replays after a Last-Event-ID, and asks for a resync when it cannot', () => {
    const ring = new EventRing(3, 'b1')
    for (const id of ['o1', 'o2', 'o3', 'o4']) ring.push('order_accepted', 'A', id, {})
    const all = () => true
    assert.deepEqual(
      ring.since('b1-2', all),
      {kind: 'events', events: ring.list(all, 10).slice(1)},
      'events 3 and 4',
    )
    assert.equal(ring.since('b1-0', all).kind, 'resync', 'event 1 was overwritten')
    assert.equal(ring.since('b0-3', all).kind, 'resync', 'another run of the gateway')
    assert.equal(ring.since('b1-9', all).kind, 'resync', 'ahead of the newest')
    assert.equal(ring.since('junk', all).kind, 'resync')
    assert.deepEqual(ring.since('b1-4', all), {kind: 'events', events: []})
    ring.clear()
    assert.equal(ring.since('b1-3', all).kind, 'resync', 'a reset forgets every event')
    assert.equal(ring.latestId(), 'b1-4')
  })
})
