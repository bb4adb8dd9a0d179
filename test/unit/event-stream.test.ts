import assert from 'node:assert/strict'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {after, before, describe, it} from 'node:test'
import {EventStreamError, readEventStream, type StreamEvent} from '../../src/checks/event-stream.js'

/** What each route of the test server does with a request; the last request is kept. */
const routes: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void> = {
  '/mixed': (_req, res) => {
    res.writeHead(200, {'content-type': 'text/event-stream'})
    res.write('retry: 1000\n\n: a comment\n\n')
    res.write('data: {"n":1}\nid: 7\n\n')
    res.write('id: 8\nevent: order_accepted\ndata: {"n":2}\n\n')
    res.write('id: 9\nevent: other\ndata: {"n":3}\n\n')
    // Split inside a line: the client must wait for the rest.
    res.write('id: 10\nda')
    setTimeout(() => res.end('ta: {"n":4}\n\n'), 20)
  },
  '/refused': (_req, res) => {
    res.writeHead(401, {'content-type': 'application/json'})
    res.end('{"error":"unauthorized","message":"a Bearer token is required"}')
  },
  '/not-a-stream': (_req, res) => {
    res.writeHead(200, {'content-type': 'application/json'})
    res.end('{}')
  },
  '/broken': (_req, res) => {
    res.writeHead(200, {'content-type': 'text/event-stream'})
    res.write('data: one\nid: 1\n\n')
    setTimeout(() => res.socket?.destroy(), 20)
  },
  '/open': (_req, res) => {
    res.writeHead(200, {'content-type': 'text/event-stream'})
    res.write('data: first\nid: 1\n\n')
  },
}
let lastRequest: http.IncomingMessage | undefined
let server: http.Server
let base = ''

async function collect(path: string, options: Parameters<typeof readEventStream>[1] = {}) {
  const events: StreamEvent[] = []
  for await (const event of readEventStream(`${base}${path}`, options)) events.push(event)
  return events
}

describe('readEventStream (EventSource from the eventsource package)', () => {
  before(async () => {
    server = http.createServer((req, res) => {
      lastRequest = req
      routes[new URL(req.url ?? '/', 'http://x').pathname]?.(req, res)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  it('yields unnamed events as message by default, with their ids, until the server ends the stream', async () => {
    assert.deepEqual(await collect('/mixed'), [
      {id: '7', event: 'message', data: '{"n":1}'},
      {id: '10', event: 'message', data: '{"n":4}'},
    ])
  })

  it('yields the named events it is told to listen for, and only those', async () => {
    assert.deepEqual(await collect('/mixed', {events: ['order_accepted', 'message']}), [
      {id: '7', event: 'message', data: '{"n":1}'},
      {id: '8', event: 'order_accepted', data: '{"n":2}'},
      {id: '10', event: 'message', data: '{"n":4}'},
    ])
  })

  it('sends the given headers beside Accept: text/event-stream, and says when it is open', async () => {
    let opened = 0
    await collect('/mixed', {
      headers: {authorization: 'Bearer t', 'last-event-id': '6'},
      onOpen: () => opened++,
    })
    assert.equal(lastRequest?.headers.authorization, 'Bearer t')
    assert.equal(lastRequest?.headers['last-event-id'], '6')
    assert.equal(lastRequest?.headers.accept, 'text/event-stream')
    assert.equal(opened, 1)
  })

  it('throws a refusal with its status and body', async () => {
    await assert.rejects(collect('/refused'), (error: unknown) => {
      assert.ok(error instanceof EventStreamError)
      assert.equal(error.status, 401)
      assert.match(error.message, /^GET \/refused answered 401: .*a Bearer token is required/)
      return true
    })
  })

  it('throws for a 200 answer that is not an event stream', async () => {
    await assert.rejects(collect('/not-a-stream'), /GET \/not-a-stream answered 200 with application\/json/)
  })

  it('throws with the cause when the stream breaks, after the events it got', async () => {
    const events: StreamEvent[] = []
    await assert.rejects(
      (async () => {
        for await (const event of readEventStream(`${base}/broken`)) events.push(event)
      })(),
      /GET \/broken: the stream broke/,
    )
    assert.deepEqual(events, [{id: '1', event: 'message', data: 'one'}])
  })

  it('throws the network error when nothing listens', async () => {
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const stream = readEventStream(`http://127.0.0.1:${port}/`)
    await assert.rejects(stream.next(), (error: unknown) => {
      assert.ok(!(error instanceof EventStreamError))
      assert.equal((error as {cause?: {code?: string}}).cause?.code, 'ECONNREFUSED')
      return true
    })
  })

  it('ends quietly when the signal aborts, also before it starts', async () => {
    const controller = new AbortController()
    const events: StreamEvent[] = []
    for await (const event of readEventStream(`${base}/open`, {signal: controller.signal})) {
      events.push(event)
      controller.abort()
    }
    assert.deepEqual(events, [{id: '1', event: 'message', data: 'first'}])
    assert.deepEqual(await collect('/open', {signal: AbortSignal.abort()}), [])
  })
})
