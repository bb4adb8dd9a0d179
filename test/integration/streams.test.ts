import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import {EventSource} from 'eventsource'
import {cleanup, makeHome, runPoc, testPortOffsets, upStack} from '../helpers.js'

/**
 * Every SSE route we serve, read by a standard EventSource (the eventsource package, what a
 * browser such as the seed's UI has): pm's summary reaches `onmessage`, the named events of pm's
 * telemetry stream and the gateway's streams reach their listeners, each with its id.
 */
const offset = testPortOffsets.streams
const pm = `http://127.0.0.1:${3001 + offset}`
const gateway = `http://127.0.0.1:${8081 + offset}`
const run = Date.now().toString(36)

let home: string

/** An EventSource that records what it gets: `message` (onmessage), the listed named events, errors. */
function listen(url: string, named: string[] = [], headers: Record<string, string> = {}) {
  const source = new EventSource(url, {
    fetch: (input, init) => fetch(input, {...init, headers: {...init.headers, ...headers}}),
  })
  const got: Record<string, MessageEvent[]> = {message: []}
  const errors: {code?: number; message?: string; readyState: number}[] = []
  source.onmessage = (event) => got.message?.push(event)
  for (const type of named) {
    got[type] = []
    source.addEventListener(type, (event) => got[type]?.push(event))
  }
  source.onerror = (event) =>
    errors.push({code: event.code, message: event.message, readyState: source.readyState})
  return {
    source,
    got,
    errors,
    async until(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
      const deadline = Date.now() + ms
      while (!condition()) {
        if (Date.now() > deadline)
          assert.fail(`timed out after ${ms} ms waiting for ${what}; errors: ${JSON.stringify(errors)}`)
        await delay(20)
      }
    },
  }
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {'content-type': 'application/json', ...headers},
    body: JSON.stringify(body),
  })
}

describe('every SSE route, read with a standard EventSource', () => {
  let token = ''
  before(async () => {
    home = makeHome('streams')
    await upStack(home, offset, 'pm,gateway')
    const minted = await runPoc(home, ['token', '--account', `streams-${run}`])
    assert.equal(minted.exitCode, 0, minted.stderr)
    token = minted.stdout.trim().split('\n').at(-1) ?? ''
  })
  after(async () => cleanup(home))

  it("pm's /metrics/stream: the raw stream's first line is a data: line, as the seed's live smoke reads it", async () => {
    const controller = new AbortController()
    const response = await fetch(`${pm}/metrics/stream`, {signal: controller.signal})
    assert.equal(response.status, 200)
    const decoder = new TextDecoder()
    let text = ''
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, {stream: true})
      if (text.includes('\n\n')) break
    }
    controller.abort()
    const firstLine = text.split('\n')[0] ?? ''
    assert.match(firstLine, /^data: \{/, `the first line: ${firstLine}`)
    assert.match(text, /^data: .*\nid: \d+\nretry: \d+\n\n/, 'the id and the retry hint follow the data line')
  })

  it("pm's /metrics/stream: onmessage gets the summary as JSON with an id, on connect and after a change", async () => {
    const stream = listen(`${pm}/metrics/stream`, ['summary'])
    try {
      await stream.until('the first summary', () => (stream.got.message?.length ?? 0) >= 1)
      const created = await post(`${pm}/api/v1/projects`, {
        projectCode: `STREAMS-${run}`,
        projectName: 'Streams',
      })
      assert.equal(created.status, 201)
      await stream.until('the summary after the change', () => (stream.got.message?.length ?? 0) >= 2)
      const [first, second] = stream.got.message ?? []
      const summary = JSON.parse(String(first?.data)) as Record<string, unknown>
      assert.equal(typeof summary.projects, 'object')
      assert.equal(typeof summary.cachedAt, 'string')
      assert.match(first?.lastEventId ?? '', /^\d+$/)
      assert.ok(Number(second?.lastEventId) > Number(first?.lastEventId), 'the ids increase')
      assert.deepEqual(stream.got.summary, [], 'no named summary event any more')
      assert.deepEqual(stream.errors, [])
    } finally {
      stream.source.close()
    }
  })

  it("pm's telemetry stream: each event arrives as a named telemetry event under its own id", async () => {
    const marker = `streams-${run}`
    const stream = listen(`${pm}/api/v1/telemetry/ui/stream?component=${marker}`, ['telemetry'])
    try {
      await stream.until('the stream to open', () => stream.source.readyState === EventSource.OPEN)
      assert.equal(
        (await post(`${pm}/api/v1/telemetry/ui`, {component: marker, event: 'probe', detail: {marker}}))
          .status,
        204,
      )
      await stream.until('the telemetry event', () => (stream.got.telemetry?.length ?? 0) >= 1)
      const [event] = stream.got.telemetry ?? []
      const body = JSON.parse(String(event?.data)) as {id: number; component: string; event: string}
      assert.deepEqual([body.component, body.event], [marker, 'probe'])
      assert.equal(event?.lastEventId, String(body.id))
      assert.deepEqual(stream.got.message, [], 'named events do not reach onmessage')
    } finally {
      stream.source.close()
    }
  })

  it("the gateway's account and order streams: with a Bearer token, the named order events arrive with their ids", async () => {
    const auth = {authorization: `Bearer ${token}`}
    const types = ['order_accepted', 'order_durable', 'order_update']
    const account = listen(`${gateway}/stream`, types, auth)
    try {
      await account.until('the account stream to open', () => account.source.readyState === EventSource.OPEN)
      const placed = await post(
        `${gateway}/orders`,
        {symbol: 'BTC', side: 'BUY', type: 'LIMIT', qty: 1, price: 100},
        {...auth, 'idempotency-key': `streams-${run}`},
      )
      assert.equal(placed.status, 202)
      const {orderId} = (await placed.json()) as {orderId: string}
      await account.until('order_accepted and order_durable on /stream', () =>
        ['order_accepted', 'order_durable'].every((type) =>
          account.got[type]?.some(
            (e) => (JSON.parse(String(e.data)) as {orderId?: string}).orderId === orderId,
          ),
        ),
      )
      for (const type of ['order_accepted', 'order_durable'])
        assert.match(account.got[type]?.[0]?.lastEventId ?? '', /^[0-9a-z]+-\d+$/, `${type} has an id`)

      // An order's stream opens with that order's history.
      const order = listen(`${gateway}/orders/${orderId}/stream`, types, auth)
      try {
        await order.until('the order’s history on its stream', () =>
          ['order_accepted', 'order_durable'].every((type) => (order.got[type]?.length ?? 0) >= 1),
        )
        assert.equal(
          order.got.order_accepted?.[0]?.lastEventId,
          account.got.order_accepted?.find(
            (e) => (JSON.parse(String(e.data)) as {orderId?: string}).orderId === orderId,
          )?.lastEventId,
          'one event, one id on both streams',
        )
        assert.deepEqual(order.got.message, [])
      } finally {
        order.source.close()
      }
    } finally {
      account.source.close()
    }
  })

  it("the gateway's stream without a token: EventSource gets the 401 and does not reconnect", async () => {
    const stream = listen(`${gateway}/stream`)
    try {
      await stream.until('the error', () => stream.errors.length >= 1)
      assert.equal(stream.errors[0]?.code, 401)
      assert.equal(stream.errors[0]?.readyState, EventSource.CLOSED)
    } finally {
      stream.source.close()
    }
  })
})
