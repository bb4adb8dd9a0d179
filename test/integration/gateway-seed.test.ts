import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import {signJwt} from '../../src/contract/jwt.js'
import {cleanup, makeHome, runPoc, testPortOffsets, upStack} from '../helpers.js'

/*
 * What the seed's (wsmaking/event-switchyard) clients send and read, against a real gateway:
 * its load clients' orders (wrk_orders.lua, open_loop_v3_load.py: AAPL; bench_gateway.py's heavy
 * request: a 1,000-character clientOrderId), quick_canary.py's POST /events?key= and GET /stats,
 * and its metric names.
 */

const offset = testPortOffsets.gatewaySeed
const gatewayUrl = `http://127.0.0.1:${8081 + offset}`
const run = Date.now().toString(36)

let home: string
let auth: string

interface Answer {
  status: number
  json: Record<string, unknown>
  headers: Headers
}

async function call(
  method: string,
  route: string,
  {body, token = auth}: {body?: unknown; token?: string | null} = {},
): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (token !== null) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`${gatewayUrl}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return {
    status: response.status,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: response.headers,
  }
}

/** The body of the seed's wrk_orders.lua and open_loop_v3_load.py (their clientOrderId is the only key). */
const seedOrder = (clientOrderId: string, symbol = 'AAPL') => ({
  symbol,
  side: 'BUY',
  type: 'LIMIT',
  qty: 100,
  price: 15000,
  timeInForce: 'GTC',
  clientOrderId,
})

/** quick_canary.py's send_event: POST /events?key=<symbol> with its trade-event payload, no token. */
async function sendEvent(key: string): Promise<Answer> {
  return call('POST', `/events?key=${encodeURIComponent(key)}`, {
    token: null,
    body: {
      symbol: key,
      price: 1000 + Math.random() * 99_000,
      quantity: 0.1 + Math.random() * 99.9,
      ts: Date.now(),
    },
  })
}

async function metrics(): Promise<string> {
  return (await fetch(`${gatewayUrl}/metrics`)).text()
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series}{`) || l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`)
    await delay(100)
  }
}

async function restartGateway(env: Record<string, string>): Promise<void> {
  const down = await runPoc(home, ['down', '--only', 'gateway'])
  assert.equal(down.exitCode, 0, down.stderr)
  const up = await runPoc(home, ['up', '--only', 'gateway', '--port-offset', String(offset)], env)
  assert.equal(up.exitCode, 0, up.stdout + up.stderr)
}

describe("the gateway takes the seed's clients as they are", () => {
  before(async () => {
    home = makeHome('gateway-seed')
    await upStack(home, offset, 'gateway')
    const secret = readFileSync(path.join(home, 'secrets', 'jwt-hs256-secret'), 'utf8').trim()
    auth = signJwt({accountId: `seed-${run}`}, secret, {ttlSeconds: 3600})
  })
  after(async () => cleanup(home))

  it('accepts AAPL and any other well-formed symbol by default, and refuses a malformed one with 422', async () => {
    const aapl = await call('POST', '/orders', {body: seedOrder(`w_${run}_1`)})
    assert.equal(aapl.status, 202, JSON.stringify(aapl.json))
    assert.equal(aapl.json.status, 'ACCEPTED')
    for (const symbol of ['BTCUSD', 'BRK.B', '7203', 'ES-Z6']) {
      const answer = await call('POST', '/orders', {body: seedOrder(`w_${run}_${symbol}`, symbol)})
      assert.equal(answer.status, 202, `${symbol}: ${JSON.stringify(answer.json)}`)
    }
    for (const symbol of ['aapl', 'BTC/USD', '', 'X'.repeat(33)]) {
      const answer = await call('POST', '/orders', {
        body: seedOrder(`bad_${run}_${symbol.length}_${symbol}`, symbol),
      })
      assert.equal(answer.status, 422, `${JSON.stringify(symbol)}: ${JSON.stringify(answer.json)}`)
      assert.equal(answer.json.reason, 'INVALID_SYMBOL')
      assert.match(String(answer.json.message), /is not 1 to 32 characters of A-Z, 0-9/)
    }
  })

  it("accepts bench_gateway.py's heavy request (a 1,000-character clientOrderId) and refuses one over 1024 with 400", async () => {
    const heavy = 'X'.repeat(1000)
    const first = await call('POST', '/orders', {body: seedOrder(heavy)})
    assert.equal(first.status, 202, JSON.stringify(first.json))
    assert.equal(first.json.clientOrderId, heavy)
    const again = await call('POST', '/orders', {body: seedOrder(heavy)})
    assert.equal(again.json.orderId, first.json.orderId, 'the clientOrderId is the idempotency key')
    const known = await call('GET', `/orders/client/${heavy}`)
    assert.equal(known.status, 200, JSON.stringify(known.json))
    assert.equal(known.json.orderId, first.json.orderId)
    const atLimit = await call('POST', '/orders', {body: seedOrder(`${run}-`.padEnd(1024, 'Y'))})
    assert.equal(atLimit.status, 202, JSON.stringify(atLimit.json))
    const over = await call('POST', '/orders', {body: seedOrder('Z'.repeat(1025))})
    assert.equal(over.status, 400)
    assert.equal(over.json.error, 'validation_failed')
    assert.equal(over.json.field, 'clientOrderId')
    assert.match(String(over.json.message), /1 to 1024 characters/)
  })

  it('answers quick_canary.py: POST /events?key= 200 for each event, GET /stats with the keys it reads', async () => {
    assert.equal((await fetch(`${gatewayUrl}/health`)).status, 200)
    const before = (await call('GET', '/stats', {token: null})).json
    const keys = ['BTC', 'ETH', 'XRP']
    for (let i = 0; i < 30; i++) {
      const answer = await sendEvent(keys[i % keys.length] as string)
      assert.equal(answer.status, 200, JSON.stringify(answer.json))
      assert.equal(answer.json.status, 'OK')
    }
    const stats = await until('the events to be drained', async () => {
      const answer = await call('GET', '/stats', {token: null})
      assert.equal(answer.status, 200)
      return Number(answer.json.fast_path_count) >= Number(before.fast_path_count) + 30
        ? answer.json
        : undefined
    })
    // Every key quick_canary.py and run_canary.sh read, as numbers.
    for (const key of [
      'fast_path_count',
      'fast_path_drop_count',
      'fast_path_process_p50_us',
      'fast_path_process_p99_us',
      'fast_path_process_p999_us',
      'fast_path_publish_p50_us',
      'fast_path_publish_p99_us',
      'fast_path_publish_p999_us',
      'persistence_queue_write_p99_us',
      'persistence_queue_error_count',
      'persistence_queue_lag',
    ]) {
      assert.equal(typeof stats[key], 'number', `${key}: ${JSON.stringify(stats)}`)
    }
    assert.ok(Number(stats.fast_path_process_p50_us) > 0, JSON.stringify(stats))
    assert.ok(Number(stats.fast_path_publish_p99_us) > 0, JSON.stringify(stats))
    assert.equal(stats.fast_path_drop_count, 0)
    // The orders of the earlier tests are durable: their fdatasync is the persistence queue's write.
    assert.ok(Number(stats.persistence_queue_write_p99_us) > 0, JSON.stringify(stats))

    // The seed's other answers, in our {error, message} shape.
    const noKey = await call('POST', '/events', {token: null, body: {price: 50000}})
    assert.equal(noKey.status, 400)
    assert.equal(noKey.json.error, 'MISSING_KEY')
    const badKey = await sendEvent('btc/usd')
    assert.equal(badKey.status, 422)
    assert.equal(badKey.json.error, 'INVALID_SYMBOL')
    const get = await call('GET', '/events', {token: null})
    assert.equal(get.status, 405)
    assert.equal(get.headers.get('allow'), 'POST')
    assert.equal(get.json.error, 'method_not_allowed')
    // A probe is not an order: no order came of the 30 events, only of the 7 orders placed so far.
    const orders = await call('GET', `/accounts/seed-${run}/events?limit=1000`)
    const events = orders.json.events as Array<{type: string; orderId: string}>
    assert.equal(events.filter((e) => e.type === 'order_accepted').length, 7)
    assert.equal(Number(stats.persistence_queue_publish_count), 7)
  })

  it("exports the seed's metric names beside ours, and real histograms in seconds", async () => {
    const text = await until('the durable commit rate to show', async () => {
      // Orders keep the EWMA above 0 while the next scrape comes.
      await call('POST', '/orders', {body: seedOrder(`ewma_${run}_${Date.now()}`)})
      const t = await metrics()
      return (sample(t, 'gateway_durable_commit_rate_ewma') ?? 0) > 0 ? t : undefined
    })
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]))
    for (const [name, type] of [
      ['gateway_inflight_dynamic_enabled', 'gauge'],
      ['gateway_inflight_limit_dynamic', 'gauge'],
      ['gateway_backpressure_soft_reject_rate_ewma', 'gauge'],
      ['gateway_durable_commit_rate_ewma', 'gauge'],
      ['gateway_backpressure_soft_rate_decline_total', 'counter'],
      ['gateway_kafka_delivery_err_total', 'counter'],
      ['gateway_reject_invalid_qty_total', 'counter'],
      ['gateway_reject_rate_limit_total', 'counter'],
      ['gateway_reject_risk_total', 'counter'],
      ['gateway_reject_invalid_symbol_total', 'counter'],
      ['gateway_reject_queue_full_total', 'counter'],
      ['gateway_reject_total', 'counter'],
      ['gateway_ack_seconds', 'histogram'],
      ['gateway_durable_ack_seconds', 'histogram'],
      ['gateway_fast_path_processing_seconds', 'histogram'],
      ['gateway_ack_p99_us', 'gauge'],
    ] as const) {
      assert.equal(types.get(name), type, name)
    }
    assert.equal(sample(text, 'gateway_inflight_dynamic_enabled'), 0)
    assert.equal(sample(text, 'gateway_inflight_limit_dynamic'), 0, 'BACKPRESSURE_INFLIGHT_MAX is not set')
    assert.equal(sample(text, 'gateway_reject_invalid_symbol_total'), 4, 'the four malformed symbols')
    assert.equal(sample(text, 'gateway_reject_total{reason="INVALID_SYMBOL",service="gateway"}'), 4)
    const accepted = sample(text, 'gateway_orders_accepted_total') as number
    const acks = sample(text, 'gateway_ack_seconds_count') as number
    assert.ok(acks >= accepted, `every accepted order's ack is in the histogram (${acks} of ${accepted})`)
    assert.equal(sample(text, 'gateway_ack_seconds_bucket{le="+Inf",service="gateway"}'), acks)
    assert.ok((sample(text, 'gateway_ack_seconds_bucket{le="1",service="gateway"}') as number) > 0)
    assert.ok((sample(text, 'gateway_ack_seconds_sum') as number) > 0)
    assert.ok((sample(text, 'gateway_fast_path_processing_seconds_count') as number) >= accepted + 30)
  })

  it('trades only SYMBOLS when it is set, on orders and events alike', async () => {
    await restartGateway({SYMBOLS: 'BTC,ETH', BACKPRESSURE_INFLIGHT_MAX: '5000'})
    const aapl = await call('POST', '/orders', {body: seedOrder(`r_${run}_aapl`)})
    assert.equal(aapl.status, 422, JSON.stringify(aapl.json))
    assert.equal(aapl.json.reason, 'INVALID_SYMBOL')
    assert.match(String(aapl.json.message), /this gateway trades BTC, ETH \(SYMBOLS\)/)
    assert.equal((await call('POST', '/orders', {body: seedOrder(`r_${run}_btc`, 'BTC')})).status, 202)
    assert.equal((await sendEvent('AAPL')).status, 422)
    assert.equal((await sendEvent('ETH')).status, 200)
    assert.equal(sample(await metrics(), 'gateway_inflight_limit_dynamic'), 5000)
  })

  it('admits no more than MAX_SYMBOLS distinct symbols without SYMBOLS, with a 422 that says so', async () => {
    // The WAL replays AAPL, BTCUSD, BRK.B, 7203, ES-Z6 and BTC: already past a cap of 3.
    await restartGateway({MAX_SYMBOLS: '3'})
    const known = await call('POST', '/orders', {body: seedOrder(`m_${run}_aapl`)})
    assert.equal(known.status, 202, 'a symbol with orders is still traded')
    const fresh = await call('POST', '/orders', {body: seedOrder(`m_${run}_msft`, 'MSFT')})
    assert.equal(fresh.status, 422, JSON.stringify(fresh.json))
    assert.equal(fresh.json.reason, 'INVALID_SYMBOL')
    assert.match(String(fresh.json.message), /would be one more than the 3 symbols .*MAX_SYMBOLS/)
  })
})
