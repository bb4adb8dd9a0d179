import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {closeSync, openSync, readFileSync, readSync, writeSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import amqp from 'amqplib'
import {readEventStream, type StreamEvent} from '../../src/checks/event-stream.js'
import {gatewayStreamEvents} from '../../src/services/gateway/events.js'
import {signJwt} from '../../src/contract/jwt.js'
import type {StatusResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.gateway
const gatewayUrl = `http://127.0.0.1:${8081 + offset}`
const amqpUrl = `amqp://guest:guest@127.0.0.1:${5672 + offset}`
const run = Date.now().toString(36)

interface Answer {
  status: number
  json: Record<string, unknown>
  headers: Headers
}

let home: string
let secret: string

function token(accountId: string, ttlSeconds = 3600): string {
  return signJwt({accountId}, secret, {ttlSeconds})
}

async function call(
  method: string,
  route: string,
  {auth, body, key}: {auth?: string; body?: unknown; key?: string} = {},
): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (auth !== undefined) headers.authorization = `Bearer ${auth}`
  if (key !== undefined) headers['idempotency-key'] = key
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

const limitBuy = (extra: Record<string, unknown> = {}) => ({
  symbol: 'BTC',
  side: 'BUY',
  type: 'LIMIT',
  qty: 1,
  price: 100,
  ...extra,
})

/** Restarts the gateway with extra environment (its tuning variables pass through `poc up`). */
async function restartGateway(env: Record<string, string> = {}): Promise<void> {
  const down = await runPoc(home, ['down', '--only', 'gateway'])
  assert.equal(down.exitCode, 0, down.stderr)
  const up = await runPoc(home, ['up', '--only', 'gateway', '--port-offset', String(offset)], env)
  assert.equal(up.exitCode, 0, up.stdout + up.stderr)
}

async function gatewayPid(): Promise<number> {
  const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
  const pid = status.components.find((c) => c.name === 'gateway')?.pids[0]
  assert.ok(pid, 'the gateway has a pid')
  return pid
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
  assert.ok(line, `/metrics has ${name}`)
  return Number(line.split(' ').at(-1))
}

/** Collects a stream's events in the background until `stop()`. */
function collect(route: string, auth: string, headers: Record<string, string> = {}) {
  const controller = new AbortController()
  const events: StreamEvent[] = []
  const done = (async () => {
    for await (const event of readEventStream(`${gatewayUrl}${route}`, {
      headers: {authorization: `Bearer ${auth}`, ...headers},
      events: gatewayStreamEvents,
      signal: controller.signal,
    })) {
      events.push(event)
    }
  })()
  return {
    events,
    async stop() {
      controller.abort()
      await done
    },
  }
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`)
    await delay(50)
  }
}

describe('gateway (SPEC §4.5) against a real process and RabbitMQ', () => {
  before(async () => {
    home = makeHome('gateway')
    await upStack(home, offset, 'gateway')
    secret = readFileSync(path.join(home, 'secrets', 'jwt-hs256-secret'), 'utf8').trim()
  })
  after(async () => cleanup(home))

  it('accepts, replays and refuses orders with the status codes and reasons of the contract', async () => {
    const auth = token(`contract-${run}`)
    const first = await call('POST', '/orders', {
      auth,
      key: `c-${run}-1`,
      body: limitBuy({clientOrderId: `co-${run}`}),
    })
    assert.equal(first.status, 202, JSON.stringify(first.json))
    assert.equal(first.json.status, 'ACCEPTED')
    assert.match(String(first.json.orderId), /^ORD-\d{10}$/)
    assert.equal(typeof first.json.acceptSeq, 'number')
    assert.equal(first.json.clientOrderId, `co-${run}`)
    assert.ok(first.json.requestId)

    const replay = await call('POST', '/orders', {auth, key: `c-${run}-1`, body: limitBuy({qty: 7})})
    assert.equal(replay.status, 202)
    assert.equal(replay.json.orderId, first.json.orderId, 'a replayed key returns the original order')
    assert.equal(replay.json.replayed, true)

    // Without a header, the clientOrderId is the key.
    const byClientId = await call('POST', '/orders', {auth, body: limitBuy({clientOrderId: `co2-${run}`})})
    assert.equal(byClientId.status, 202)
    const again = await call('POST', '/orders', {auth, body: limitBuy({clientOrderId: `co2-${run}`})})
    assert.equal(again.json.orderId, byClientId.json.orderId)

    const noKey = await call('POST', '/orders', {auth, body: limitBuy()})
    assert.equal(noKey.status, 400)
    assert.equal(noKey.json.reason, 'IDEMPOTENCY_REQUIRED')

    const refusals: Array<[Record<string, unknown>, number, string]> = [
      [limitBuy({qty: 0}), 422, 'INVALID_QTY'],
      [limitBuy({qty: 1.5}), 422, 'INVALID_QTY'],
      [limitBuy({symbol: 'no such symbol'}), 422, 'INVALID_SYMBOL'],
      [limitBuy({qty: 10_001}), 422, 'RISK_REJECT'],
      [limitBuy({qty: 10_000, price: 200_000}), 422, 'RISK_REJECT'],
    ]
    for (const [body, status, reason] of refusals) {
      const answer = await call('POST', '/orders', {auth, key: `r-${run}-${reason}-${body.qty}`, body})
      assert.equal(answer.status, status, JSON.stringify(body))
      assert.equal(answer.json.reason, reason)
      assert.equal(answer.json.status, 'REJECTED')
    }
    const rejected = await call('POST', '/orders', {
      auth,
      body: limitBuy({symbol: 'no such symbol', clientOrderId: `rj-${run}`}),
    })
    assert.equal(rejected.status, 422)
    const rejectedStatus = await call('GET', `/orders/client/rj-${run}`, {auth})
    assert.deepEqual(rejectedStatus.json, {
      clientOrderId: `rj-${run}`,
      status: 'REJECTED',
      reason: 'INVALID_SYMBOL',
    })

    for (const body of [
      {symbol: 'BTC'},
      limitBuy({side: 'HOLD'}),
      limitBuy({price: undefined}),
      'not json',
    ]) {
      const answer = await call('POST', '/orders', {auth, key: `bad-${run}`, body})
      assert.equal(answer.status, 400, JSON.stringify(body))
      assert.equal(answer.json.error, 'validation_failed')
    }

    const raw = async (body: string, contentType: string) => {
      const response = await fetch(`${gatewayUrl}/orders`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${auth}`,
          'content-type': contentType,
          'idempotency-key': `raw-${run}`,
        },
        body,
      })
      return {status: response.status, json: (await response.json()) as Record<string, unknown>}
    }
    assert.deepEqual((await raw('{"symbol":', 'application/json')).json.error, 'invalid_json')
    assert.equal((await raw('', 'application/json')).status, 400)
    const wrongType = await raw(JSON.stringify(limitBuy()), 'text/plain')
    assert.equal(wrongType.status, 415)
    assert.equal(wrongType.json.error, 'unsupported_media_type')
    const huge = await raw(JSON.stringify(limitBuy({clientOrderId: 'x'.repeat(20_000)})), 'application/json')
    assert.equal(huge.status, 413)
    assert.equal(huge.json.error, 'payload_too_large')

    const known = await until('the first order to be durable', async () => {
      const answer = await call('GET', `/orders/client/co-${run}`, {auth})
      return answer.json.status === 'DURABLE' ? answer : undefined
    })
    assert.equal(known.json.orderId, first.json.orderId)
    assert.deepEqual((await call('GET', `/orders/client/never-${run}`, {auth})).json, {
      clientOrderId: `never-${run}`,
      status: 'UNKNOWN',
    })

    const order = await call('GET', `/orders/${String(first.json.orderId)}`, {auth})
    assert.equal(order.status, 200)
    assert.equal(order.json.durable, true)
    const cancel = await call('POST', `/orders/${String(first.json.orderId)}/cancel`, {auth})
    assert.equal(cancel.status, 202)
    assert.equal(cancel.json.status, 'CANCEL_REQUESTED')
    await until('the cancel to be applied', async () => {
      const answer = await call('GET', `/orders/${String(first.json.orderId)}`, {auth})
      return answer.json.status === 'CANCELED' ? true : undefined
    })
    const twice = await call('POST', `/orders/${String(first.json.orderId)}/cancel`, {auth})
    assert.equal(twice.status, 409)
    assert.equal(twice.json.error, 'ORDER_FINAL')
    assert.equal((await call('POST', '/orders/ORD-9999999999/cancel', {auth})).status, 404)

    const events = await call('GET', `/orders/${String(first.json.orderId)}/events`, {auth})
    assert.deepEqual(
      (events.json.events as Array<{type: string}>).map((e) => e.type),
      ['order_accepted', 'order_durable', 'order_update', 'order_update'],
    )
    assert.equal(events.json.complete, true)
  })

  it('refuses tokens signed with another secret, expired, with alg=none or missing with 401', async () => {
    const body = limitBuy()
    const otherSecret = signJwt({accountId: 'x'}, randomBytes(32).toString('hex'), {ttlSeconds: 60})
    const expired = signJwt({accountId: 'x'}, secret, {ttlSeconds: 60, now: () => Date.now() - 3_600_000})
    const header = Buffer.from(JSON.stringify({alg: 'none', typ: 'JWT'})).toString('base64url')
    const payload = Buffer.from(
      JSON.stringify({accountId: 'x', iat: Math.floor(Date.now() / 1000)}),
    ).toString('base64url')
    const cases: Array<[string | undefined, string]> = [
      [otherSecret, 'bad_signature'],
      [expired, 'expired'],
      [`${header}.${payload}.`, 'alg_not_allowed'],
      [`${header}.${payload}.${otherSecret.split('.')[2]}`, 'alg_not_allowed'],
      [undefined, 'missing_token'],
    ]
    for (const [auth, reason] of cases) {
      for (const [method, route] of [
        ['POST', '/orders'],
        ['GET', '/orders/ORD-0000000001'],
        ['GET', '/stream'],
      ]) {
        const answer = await call(method as string, route as string, {
          auth,
          key: `k-${run}`,
          body: method === 'POST' ? body : undefined,
        })
        assert.equal(answer.status, 401, `${reason} on ${method} ${route}`)
        assert.equal(answer.json.reason, reason)
        assert.ok(answer.headers.get('www-authenticate')?.startsWith('Bearer'))
      }
    }
  })

  it('never shows an account another account’s orders or events', async () => {
    const alice = token(`alice-${run}`)
    const bob = token(`bob-${run}`)
    const bobStream = collect('/stream', bob)
    const aliceStream = collect('/stream', alice)
    await delay(200)
    const placed = await call('POST', '/orders', {
      auth: alice,
      key: `iso-${run}`,
      body: limitBuy({clientOrderId: `iso-${run}`}),
    })
    const orderId = String(placed.json.orderId)
    await until('alice’s order_durable', () =>
      aliceStream.events.some((e) => e.event === 'order_durable') ? true : undefined,
    )
    for (const route of [
      `/orders/${orderId}`,
      `/orders/${orderId}/events`,
      `/orders/${orderId}/stream`,
      `/accounts/alice-${run}/events`,
    ]) {
      const answer = await call('GET', route, {auth: bob})
      assert.equal(answer.status, 404, route)
    }
    assert.equal((await call('POST', `/orders/${orderId}/cancel`, {auth: bob})).status, 404)
    assert.equal((await call('GET', `/orders/client/iso-${run}`, {auth: bob})).json.status, 'UNKNOWN')
    // The same key under another account is another order.
    const bobs = await call('POST', '/orders', {auth: bob, key: `iso-${run}`, body: limitBuy()})
    assert.notEqual(bobs.json.orderId, orderId)
    await delay(200)
    await bobStream.stop()
    await aliceStream.stop()
    const seenByBob = bobStream.events.map((e) => JSON.parse(e.data).orderId as string)
    assert.ok(!seenByBob.includes(orderId), 'bob’s stream carries none of alice’s events')
    assert.ok(seenByBob.includes(String(bobs.json.orderId)))
    const own = await call('GET', `/accounts/alice-${run}/events`, {auth: alice})
    assert.ok((own.json.events as Array<{orderId: string}>).every((e) => e.orderId === orderId))
  })

  it('replays what a reconnecting stream missed after its Last-Event-ID, else says resync_required', async () => {
    const auth = token(`sse-${run}`)
    const first = collect('/stream', auth)
    await delay(200)
    await call('POST', '/orders', {auth, key: `sse-${run}-1`, body: limitBuy()})
    await until('the first order’s durable event', () =>
      first.events.some((e) => e.event === 'order_durable') ? true : undefined,
    )
    await first.stop()
    const lastId = first.events.at(-1)?.id as string
    const missed = await call('POST', '/orders', {auth, key: `sse-${run}-2`, body: limitBuy()})
    await delay(100)
    const resumed = collect('/stream', auth, {'last-event-id': lastId})
    await until('the missed order’s events', () =>
      resumed.events.some((e) => e.event === 'order_durable') ? true : undefined,
    )
    await resumed.stop()
    assert.ok(
      resumed.events.every((e) => JSON.parse(e.data).orderId === missed.json.orderId),
      'only what was missed',
    )
    assert.deepEqual(resumed.events.map((e) => e.event).slice(0, 2), ['order_accepted', 'order_durable'])

    const stale = collect('/stream', auth, {'last-event-id': 'old-boot-12'})
    await until('resync_required', () => (stale.events.length > 0 ? true : undefined))
    await stale.stop()
    assert.equal(stale.events[0]?.event, 'resync_required')
  })

  it('verifies its audit chain, and fails verification at the seq of a line edited by hand', async () => {
    const verified = await call('GET', '/audit/verify')
    assert.equal(verified.json.ok, true, JSON.stringify(verified.json))
    const anchor = await call('GET', '/audit/anchor')
    assert.equal(verified.json.lastSeq, anchor.json.seq)
    assert.ok(Number(anchor.json.seq) >= 5)

    const wal = path.join(home, 'data', 'gateway', 'audit.log')
    const lines = readFileSync(wal, 'utf8').split('\n')
    const target = 3
    const start = lines.slice(0, target - 1).reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0)
    const at = lines[target - 1]!.indexOf('"qty":') + '"qty":'.length
    const position = start + at
    const fd = openSync(wal, 'r+')
    const original = Buffer.alloc(1)
    readSync(fd, original, 0, 1, position)
    writeSync(fd, Buffer.from(original[0] === 0x39 ? '8' : '9'), 0, 1, position)
    try {
      const broken = await call('GET', '/audit/verify')
      assert.equal(broken.json.ok, false)
      assert.deepEqual((broken.json.error as {seq: number}).seq, target)
      assert.equal(broken.json.lastSeq, target - 1)
      const later = await call('GET', `/audit/verify?fromSeq=${target + 1}&limit=2`)
      assert.equal(later.json.ok, false, 'a range is only as good as its link to genesis')
    } finally {
      writeSync(fd, original, 0, 1, position)
      closeSync(fd)
    }
    assert.equal((await call('GET', '/audit/verify')).json.ok, true)
    assert.equal((await call('GET', '/audit/verify?fromSeq=0')).status, 400)
  })

  it('keeps accepting while RabbitMQ is down, and publishes every OrderAccepted once it is back', async () => {
    const queue = `test.gateway.${run}`
    const setup = await amqp.connect(amqpUrl)
    const channel = await setup.createChannel()
    await channel.assertExchange('domain', 'topic', {durable: true})
    await channel.assertQueue(queue, {durable: true})
    await channel.bindQueue(queue, 'domain', 'gateway.order.#')
    await setup.close()

    assert.equal((await runPoc(home, ['down', '--only', 'rabbitmq'])).exitCode, 0)
    const auth = token(`outage-${run}`)
    const ids = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const answer = await call('POST', '/orders', {
        auth,
        body: limitBuy({clientOrderId: `out-${run}-${i}`, price: 50 + (i % 7)}),
      })
      assert.equal(answer.status, 202, JSON.stringify(answer.json))
      ids.add(String(answer.json.orderId))
    }
    await until('every order durable with the broker down', async () => {
      const last = await call('GET', `/orders/client/out-${run}-199`, {auth})
      return last.json.status === 'DURABLE' ? true : undefined
    })
    const health = await call('GET', '/health')
    assert.equal(health.status, 200)
    assert.equal(health.json.status, 'degraded', JSON.stringify(health.json))

    await upStack(home, offset, 'rabbitmq')
    const consumer = await amqp.connect(amqpUrl)
    try {
      const ch = await consumer.createChannel()
      const seen = new Set<string>()
      await ch.consume(queue, (message) => {
        if (!message) return
        const envelope = JSON.parse(message.content.toString()) as {type: string; payload: {orderId: string}}
        assert.equal(message.properties.contentType, 'application/json')
        assert.equal(message.properties.headers?.type, envelope.type)
        if (envelope.type === 'gateway.order.accepted') seen.add(envelope.payload.orderId)
        ch.ack(message)
      })
      await until(
        'every OrderAccepted on the test queue',
        () => ([...ids].every((id) => seen.has(id)) ? true : undefined),
        60_000,
      )
    } finally {
      await consumer.close()
    }
    await until('the gateway to be healthy again', async () => {
      const answer = await call('GET', '/health')
      return answer.json.status === 'healthy' ? true : undefined
    })
  })

  it('loses no order announced durable when killed with kill -9 under load', async (t) => {
    const auth = token(`k9-${run}`)
    const durable = new Map<string, string>()
    const stream = collect('/stream', auth)
    await delay(200)
    let stop = false
    let accepted = 0
    const answered = new Set<string>()
    const workers = Array.from({length: 400}, async (_, w) => {
      for (let i = 0; !stop; i++) {
        try {
          const answer = await call('POST', '/orders', {
            auth,
            key: `k9-${run}-${w}-${i}`,
            body: limitBuy({price: 90 + (i % 20), side: i % 2 ? 'BUY' : 'SELL'}),
          })
          if (answer.status === 202) {
            accepted++
            answered.add(String(answer.json.orderId))
          }
        } catch {
          return
        }
      }
    })
    await until(
      '2000 orders announced durable',
      () => {
        for (const event of stream.events.splice(0)) {
          if (event.event !== 'order_durable') continue
          const data = JSON.parse(event.data) as {orderId: string; idempotencyKey: string}
          durable.set(data.orderId, data.idempotencyKey)
        }
        return durable.size >= 2000 ? true : undefined
      },
      60_000,
    )
    process.kill(await gatewayPid(), 'SIGKILL')
    stop = true
    await Promise.all(workers)
    await stream.stop()
    for (const event of stream.events) {
      if (event.event !== 'order_durable') continue
      const data = JSON.parse(event.data) as {orderId: string; idempotencyKey: string}
      durable.set(data.orderId, data.idempotencyKey)
    }
    assert.ok(accepted >= durable.size)
    t.diagnostic(
      `at the kill: ${accepted} orders answered 202, ${durable.size} announced durable, 400 requests open`,
    )

    await upStack(home, offset, 'gateway')
    const entries = [...durable]
    for (let i = 0; i < entries.length; i += 50) {
      await Promise.all(
        entries.slice(i, i + 50).map(async ([orderId, key]) => {
          const order = await call('GET', `/orders/${orderId}`, {auth})
          assert.equal(order.status, 200, `${orderId} was announced durable`)
          assert.equal(order.json.idempotencyKey, key)
          const replay = await call('POST', '/orders', {auth, key, body: limitBuy()})
          assert.equal(replay.json.orderId, orderId, `replaying ${key}`)
          assert.equal(replay.json.replayed, true)
        }),
      )
    }
    const verified = await call('GET', '/audit/verify')
    assert.equal(verified.json.ok, true, JSON.stringify(verified.json))
    assert.equal(verified.json.checked, verified.json.lastSeq)
    const fresh = await call('POST', '/orders', {auth, key: `k9-${run}-after`, body: limitBuy()})
    assert.equal(fresh.status, 202)
    assert.ok(
      !answered.has(String(fresh.json.orderId)),
      `${fresh.json.orderId} was answered 202 before the kill`,
    )
  })

  it('answers 429 RATE_LIMITED per account and 503 QUEUE_REJECT when the queue is full', async () => {
    await restartGateway({
      RATE_LIMIT_PER_SEC: '0.001',
      RATE_LIMIT_BURST: '2',
      FASTPATH_DRAIN_ENABLE: '0',
      QUEUE_CAPACITY: '3',
    })
    const rated = token(`rate-${run}`)
    assert.equal((await call('POST', '/orders', {auth: rated, key: 'a', body: limitBuy()})).status, 202)
    assert.equal((await call('POST', '/orders', {auth: rated, key: 'b', body: limitBuy()})).status, 202)
    const limited = await call('POST', '/orders', {auth: rated, key: 'c', body: limitBuy()})
    assert.equal(limited.status, 429)
    assert.equal(limited.json.reason, 'RATE_LIMITED')
    assert.ok(Number(limited.headers.get('retry-after')) >= 1)
    // Another account has its own bucket; the queue (3, never drained here) is shared.
    const other = token(`queue-${run}`)
    assert.equal((await call('POST', '/orders', {auth: other, key: 'a', body: limitBuy()})).status, 202)
    const full = await call('POST', '/orders', {auth: other, key: 'b', body: limitBuy()})
    assert.equal(full.status, 503)
    assert.equal(full.json.reason, 'QUEUE_REJECT')
  })

  it('answers each backpressure limit with its reason once it is set', async () => {
    // Group commits 5 s apart keep the first order's record pending while the second arrives.
    const slowCommit = {AUDIT_FDATASYNC_MAX_WAIT_US: '5000000', AUDIT_FDATASYNC_MAX_BATCH: '100000'}
    const cases: Array<[Record<string, string>, number, string, number]> = [
      [{BACKPRESSURE_INFLIGHT_MAX: '1'}, 503, 'BACKPRESSURE_INFLIGHT', 0],
      [{BACKPRESSURE_WAL_BYTES_MAX: '100'}, 503, 'BACKPRESSURE_WAL_BYTES', 0],
      [{BACKPRESSURE_WAL_AGE_MS_MAX: '50'}, 503, 'BACKPRESSURE_WAL_AGE', 100],
      [{BACKPRESSURE_SOFT_WAL_AGE_MS_MAX: '50'}, 429, 'BACKPRESSURE_SOFT_WAL_AGE', 100],
      [{BACKPRESSURE_DISK_FREE_PCT_MIN: '100'}, 503, 'BACKPRESSURE_DISK_FREE', 0],
    ]
    for (const [env, status, reason, waitMs] of cases) {
      await restartGateway({...slowCommit, ...env})
      const auth = token(`bp-${run}-${reason}`)
      if (reason !== 'BACKPRESSURE_DISK_FREE') {
        assert.equal(
          (await call('POST', '/orders', {auth, key: 'first', body: limitBuy()})).status,
          202,
          reason,
        )
      }
      await delay(waitMs)
      const refused = await call('POST', '/orders', {auth, key: 'second', body: limitBuy()})
      assert.equal(refused.status, status, reason)
      assert.equal(refused.json.reason, reason)
      const counter = `gateway_backpressure_${reason.replace('BACKPRESSURE_', '').toLowerCase()}_total`
      assert.equal(await metric(counter), 1, counter)
    }
    await restartGateway()
  })

  it('is emptied by poc reset --gateway only', async () => {
    const auth = token(`reset-${run}`)
    const placed = await call('POST', '/orders', {auth, key: `reset-${run}`, body: limitBuy()})
    assert.equal(placed.status, 202)
    const orderId = String(placed.json.orderId)
    assert.equal((await runPoc(home, ['reset', '--yes'])).exitCode, 0)
    assert.equal((await call('GET', `/orders/${orderId}`, {auth})).status, 200, 'kept without --gateway')
    const reset = await runPoc(home, ['reset', '--yes', '--gateway', '--json'])
    assert.equal(reset.exitCode, 0, reset.stderr)
    assert.equal((await call('GET', `/orders/${orderId}`, {auth})).status, 404)
    assert.deepEqual((await call('GET', '/audit/verify')).json, {
      ok: true,
      checked: 0,
      lastSeq: 0,
      error: null,
    })
    const next = await call('POST', '/orders', {auth, key: `reset-${run}`, body: limitBuy()})
    assert.equal(next.status, 202)
    assert.equal(next.json.replayed, undefined, 'the key is free again')
    assert.equal(next.json.acceptSeq, 1)
    assert.ok(String(next.json.orderId) > orderId, `a reset hands out no id again (${next.json.orderId})`)
  })

  it('never hands out an order id again after kill -9 before the fdatasync, and AUDIT_ASYNC_WAL=false loses no 202', async () => {
    // A group commit 1 s away: the 202 leaves long before the order's record reaches the disk.
    const slow = {AUDIT_FDATASYNC_MAX_WAIT_US: '1000000', AUDIT_FDATASYNC_MAX_BATCH: '100000'}
    const auth = token(`ids-${run}`)
    // The pid is read before the order: `poc status` takes a while, and the kill must come before
    // the group commit's 1 s is up.
    const restartAfterKill = async (pid: number, env: Record<string, string>) => {
      process.kill(pid, 'SIGKILL')
      const up = await runPoc(home, ['up', '--only', 'gateway', '--port-offset', String(offset)], env)
      assert.equal(up.exitCode, 0, up.stdout + up.stderr)
    }

    await restartGateway(slow)
    const slowPid = await gatewayPid()
    const a = await call('POST', '/orders', {auth, key: `ids-a-${run}`, body: limitBuy()})
    assert.equal(a.status, 202)
    await restartAfterKill(slowPid, slow)
    assert.equal(
      (await call('GET', `/orders/${a.json.orderId}`, {auth})).status,
      404,
      'async: A was never durable',
    )
    const b = await call('POST', '/orders', {auth, key: `ids-b-${run}`, body: limitBuy()})
    assert.equal(b.status, 202)
    assert.notEqual(b.json.orderId, a.json.orderId, 'the id of an order answered 202 is not handed out again')

    const sync = {...slow, AUDIT_ASYNC_WAL: 'false'}
    await restartGateway(sync)
    const health = await call('GET', '/health')
    assert.equal((health.json.wal as {mode: string}).mode, 'sync')
    const syncPid = await gatewayPid()
    const c = await call('POST', '/orders', {auth, key: `ids-c-${run}`, body: limitBuy()})
    assert.equal(c.status, 202)
    await restartAfterKill(syncPid, sync)
    const kept = await call('GET', `/orders/${c.json.orderId}`, {auth})
    assert.equal(kept.status, 200, 'sync: an order answered 202 survives kill -9')
    assert.equal(kept.json.idempotencyKey, `ids-c-${run}`)
    const replay = await call('POST', '/orders', {auth, key: `ids-c-${run}`, body: limitBuy()})
    assert.equal(replay.json.orderId, c.json.orderId)
    await restartGateway()
  })

  it('cuts a stream that stops reading, while orders keep being accepted', async () => {
    await restartGateway({SSE_MAX_PENDING_BYTES: '65536'})
    const auth = token(`slow-${run}`)
    const socket = net.connect(8081 + offset, '127.0.0.1')
    await new Promise<void>((resolve) => socket.once('connect', resolve))
    let closed = false
    socket.once('close', () => (closed = true))
    socket.on('error', () => undefined)
    socket.write(`GET /stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${auth}\r\n\r\n`)
    socket.pause()
    await until('the stream to be open', async () =>
      (await metric('gateway_sse_clients')) === 1 ? true : undefined,
    )

    let accepted = 0
    let sent = 0
    while ((await metric('gateway_sse_dropped_total')) === 0 && sent < 60_000) {
      const batch = await Promise.all(
        Array.from({length: 500}, (_, i) =>
          call('POST', '/orders', {auth, key: `slow-${sent + i}`, body: limitBuy({price: 100 + (i % 10)})}),
        ),
      )
      sent += batch.length
      accepted += batch.filter((a) => a.status === 202).length
    }
    assert.equal(accepted, sent, 'every order was accepted while the stream stalled')
    assert.equal(await metric('gateway_sse_dropped_total'), 1)
    assert.equal(await metric('gateway_sse_clients'), 0)
    socket.resume()
    await until('the stalled stream to be closed', () => (closed ? true : undefined))
  })
})
