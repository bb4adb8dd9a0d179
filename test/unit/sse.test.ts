import assert from 'node:assert/strict'
import http from 'node:http'
import {after, before, describe, it} from 'node:test'
import {EventSource} from 'eventsource'
import {pino} from 'pino'
import {close, createHttpServer, listen, type HttpServer} from '../../src/services/shared/http.js'
import {createRegistry} from '../../src/services/shared/metrics.js'
import {MESSAGE_EVENT, SseHub, type SseHubOptions} from '../../src/services/shared/sse.js'
import {rawRequest} from '../helpers.js'

interface SseEvent {
  id?: string
  event?: string
  data?: string
  retry?: string
  comment?: string
}

/**
 * A minimal EventSource-style reader over plain http.get: it buffers partial chunks, so a frame
 * split across TCP reads is parsed only once complete.
 */
class SseReader {
  readonly events: SseEvent[] = []
  status = 0
  headers: http.IncomingHttpHeaders = {}
  closed = false
  response?: http.IncomingMessage
  private buffer = ''
  private waiters: Array<() => void> = []
  private readonly request: http.ClientRequest

  constructor(url: string, headers: Record<string, string> = {}) {
    this.request = http.get(url, {headers: {accept: 'text/event-stream', ...headers}}, (response) => {
      this.response = response
      this.status = response.statusCode ?? 0
      this.headers = response.headers
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => this.feed(chunk))
      this.notify()
    })
    // 'close' on the request, not the response: a paused response never gets to emit its own.
    this.request.on('close', () => this.markClosed())
    this.request.on('error', () => this.markClosed())
  }

  /** Events with a name, in order (retry hints and comments left out). */
  named(): SseEvent[] {
    return this.events.filter((event) => event.event !== undefined)
  }

  async until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  destroy(): void {
    this.request.destroy()
  }

  private feed(chunk: string): void {
    this.buffer += chunk
    let end: number
    while ((end = this.buffer.indexOf('\n\n')) !== -1) {
      const block = this.buffer.slice(0, end)
      this.buffer = this.buffer.slice(end + 2)
      const event: SseEvent = {}
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          event.comment = line.slice(1).trim()
          continue
        }
        const colon = line.indexOf(':')
        const field = line.slice(0, colon) as keyof SseEvent
        event[field] = line.slice(colon + 1).replace(/^ /, '')
      }
      this.events.push(event)
    }
    this.notify()
  }

  private markClosed(): void {
    this.closed = true
    this.notify()
  }

  private notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }
}

async function eventually(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A real server with one stream route; `?topic=` becomes the client's filter. */
async function startHub(
  options: SseHubOptions = {},
): Promise<{app: HttpServer; hub: SseHub<string | undefined>; url: string}> {
  const hub = new SseHub<string | undefined>(options)
  const app = createHttpServer({
    service: 'sse-test',
    logger: pino({level: 'silent'}),
    registry: createRegistry('sse-test'),
  })
  app.get<{Querystring: {topic?: string}}>('/stream', async (request, reply) => {
    const client = hub.attach(request, reply, {filter: request.query.topic})
    hub.send(client, 'hello', {client: client.id, lastEventId: client.lastEventId ?? null})
  })
  const {url} = await listen(app, {port: 0})
  return {app, hub, url: `${url}/stream`}
}

async function stop({app, hub}: {app: HttpServer; hub: SseHub<string | undefined>}): Promise<void> {
  hub.close()
  await close(app, 1000)
}

describe('SseHub', () => {
  let server: Awaited<ReturnType<typeof startHub>>
  before(async () => {
    server = await startHub()
  })
  after(async () => {
    await stop(server)
  })

  it('sends the SSE headers, a retry hint, then events with increasing ids and JSON data', async () => {
    const reader = new SseReader(server.url)
    await reader.until(() => reader.named().length >= 1, 'the hello event')
    assert.equal(reader.status, 200)
    assert.equal(reader.headers['content-type'], 'text/event-stream; charset=utf-8')
    assert.equal(reader.headers['cache-control'], 'no-cache')
    assert.equal(reader.headers['connection'], 'keep-alive')
    assert.equal(reader.headers['x-accel-buffering'], 'no')
    assert.deepEqual(reader.events[0], {retry: '3000'})

    server.hub.broadcast('summary', {projects: {active: 2}, note: 'line one\nline two'})
    server.hub.broadcast('summary', {projects: {active: 3}})
    await reader.until(() => reader.named().length >= 3, 'two broadcasts')

    const [hello, first, second] = reader.named()
    assert.equal(hello?.event, 'hello')
    const greeting = JSON.parse(hello?.data ?? '') as {client: unknown; lastEventId: unknown}
    assert.equal(typeof greeting.client, 'number')
    assert.equal(greeting.lastEventId, null)
    assert.equal(first?.event, 'summary')
    assert.deepEqual(JSON.parse(first?.data ?? ''), {projects: {active: 2}, note: 'line one\nline two'})
    assert.deepEqual(JSON.parse(second?.data ?? ''), {projects: {active: 3}})
    const ids = reader.named().map((event) => Number(event.id))
    assert.ok(
      ids.every((id, i) => Number.isInteger(id) && (i === 0 || id > (ids[i - 1] ?? Infinity))),
      `ids increase: ${ids.join(',')}`,
    )
    reader.destroy()
  })

  it('passes Last-Event-ID on to the route', async () => {
    const reader = new SseReader(server.url, {'last-event-id': '41'})
    await reader.until(() => reader.named().length >= 1, 'the hello event')
    assert.equal(JSON.parse(reader.named()[0]?.data ?? '').lastEventId, '41')
    reader.destroy()
  })

  it('broadcasts to 200 concurrent clients, honouring the predicate', async () => {
    await eventually(() => server.hub.stats().clients === 0, 'earlier clients to be gone')
    const readers = Array.from(
      {length: 200},
      (_, i) => new SseReader(`${server.url}?topic=${i % 2 ? 'odd' : 'even'}`),
    )
    await eventually(() => server.hub.stats().clients === 200, '200 attached clients')

    const reachedAll = server.hub.broadcast('tick', {n: 1})
    const reachedOdd = server.hub.broadcast('odd-only', {n: 2}, (client) => client.filter === 'odd')
    assert.equal(reachedAll, 200)
    assert.equal(reachedOdd, 100)
    await eventually(
      () => readers.every((reader) => reader.named().some((event) => event.event === 'tick')),
      'every client to receive the tick',
    )
    await eventually(
      () =>
        readers.filter((reader) => reader.named().some((event) => event.event === 'odd-only')).length === 100,
      'the odd clients to receive odd-only',
    )

    const tickIds = new Set(
      readers.map((reader) => reader.named().find((event) => event.event === 'tick')?.id),
    )
    assert.equal(tickIds.size, 1, 'one broadcast is one event id for everyone')
    for (const [i, reader] of readers.entries()) {
      assert.deepEqual(JSON.parse(reader.named().find((event) => event.event === 'tick')?.data ?? ''), {n: 1})
      assert.equal(
        reader.named().some((event) => event.event === 'odd-only'),
        i % 2 === 1,
      )
    }

    for (const reader of readers) reader.destroy()
    await eventually(() => server.hub.stats().clients === 0, 'closed clients to be removed')
  })
})

/** The raw bytes of a stream until it holds `events` blank-line-ended blocks. */
async function rawStream(url: string, events: number): Promise<string> {
  const controller = new AbortController()
  const response = await fetch(url, {signal: controller.signal})
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  let text = ''
  while (text.split('\n\n').length <= events) text += new TextDecoder().decode((await reader.read()).value)
  controller.abort()
  return text
}

describe('SseHub unnamed events and an initial event', () => {
  let server: {app: HttpServer; hub: SseHub<string | undefined>; url: string}
  before(async () => {
    const hub = new SseHub<string | undefined>()
    const app = createHttpServer({
      service: 'sse-test',
      logger: pino({level: 'silent'}),
      registry: createRegistry('sse-test'),
    })
    app.get<{Querystring: {name?: string}}>('/first', async (request, reply) => {
      hub.attach(request, reply, {initial: {event: request.query.name ?? MESSAGE_EVENT, data: {n: 0}}})
    })
    app.get('/plain', async (request, reply) => {
      hub.attach(request, reply)
    })
    const {url} = await listen(app, {port: 0})
    server = {app, hub, url}
  })
  after(async () => {
    await stop(server)
  })

  it('opens with the initial event, its data line first and the retry hint after it; a message event has no event: field', async () => {
    await eventually(() => server.hub.size === 0, 'earlier clients to be gone')
    const opened = rawStream(`${server.url}/first`, 2)
    await eventually(() => server.hub.size === 1, 'the client to attach')
    server.hub.broadcast(MESSAGE_EVENT, {n: 1})
    const [first, second] = (await opened).split('\n\n')
    assert.match(first ?? '', /^data: \{"n":0\}\nid: (\d+)\nretry: 3000$/)
    const firstId = Number(/id: (\d+)/.exec(first ?? '')?.[1])
    assert.equal(second, `data: {"n":1}\nid: ${firstId + 1}`)
    assert.equal(server.hub.stats().sent, 2, 'the initial event counts as sent')
  })

  it('opens with a named initial event as id, event, data, then the retry hint', async () => {
    const text = await rawStream(`${server.url}/first?name=hello`, 1)
    assert.match(text, /^id: \d+\nevent: hello\ndata: \{"n":0\}\nretry: 3000\n\n/)
  })

  it('without an initial event, opens with the retry hint alone', async () => {
    await eventually(() => server.hub.size === 0, 'earlier clients to be gone')
    const opened = rawStream(`${server.url}/plain`, 2)
    await eventually(() => server.hub.size === 1, 'the client to attach')
    server.hub.broadcast('tick', {n: 2})
    assert.match(await opened, /^retry: 3000\n\nid: \d+\nevent: tick\ndata: \{"n":2\}\n\n/)
  })

  it('answers with an error, not a hung stream, when the initial event cannot be framed', async () => {
    const response = await fetch(`${server.url}/first?name=${encodeURIComponent('a\nb')}`)
    assert.equal(response.status, 500)
    assert.equal(server.hub.size, 0)
  })

  it('hands message events to an EventSource’s onmessage with their ids, and named ones to their listeners only', async () => {
    await eventually(() => server.hub.size === 0, 'earlier clients to be gone')
    const source = new EventSource(`${server.url}/first`)
    const messages: MessageEvent[] = []
    const ticks: MessageEvent[] = []
    source.onmessage = (event) => messages.push(event)
    source.addEventListener('tick', (event) => ticks.push(event))
    try {
      await eventually(() => messages.length === 1, 'the initial event')
      server.hub.broadcast('tick', {n: 1})
      server.hub.broadcast(MESSAGE_EVENT, {n: 2})
      await eventually(() => messages.length === 2 && ticks.length === 1, 'the broadcasts')
    } finally {
      source.close()
    }
    assert.deepEqual(
      messages.map((event) => JSON.parse(String(event.data))),
      [{n: 0}, {n: 2}],
    )
    assert.deepEqual(JSON.parse(String(ticks[0]?.data)), {n: 1})
    const ids = [messages[0], ticks[0], messages[1]].map((event) => Number(event?.lastEventId))
    assert.ok(
      ids.every((id, i) => id > 0 && (i === 0 || id > (ids[i - 1] ?? 0))),
      `ids: ${ids.join(',')}`,
    )
  })
})

describe('SseHub backpressure', () => {
  it('drops a client that stops reading while a reading client keeps receiving', async () => {
    const maxPendingBytes = 256 * 1024
    const server = await startHub({maxPendingBytes})
    try {
      const stalled = new SseReader(server.url)
      const reading = new SseReader(server.url)
      await stalled.until(() => stalled.named().length >= 1, 'the stalled client to connect')
      await reading.until(() => reading.named().length >= 1, 'the reading client to connect')
      // From here on the stalled client's bytes pile up in the kernel buffers, then in the server.
      stalled.response?.pause()

      const payload = {blob: 'x'.repeat(64 * 1024)}
      let broadcasts = 0
      // The kernel absorbs a few MiB before the server sees any backlog; the cap only guards against a hang.
      while (server.hub.stats().dropped === 0 && broadcasts < 4000) {
        server.hub.broadcast('big', payload)
        broadcasts++
        // Pacing on the reading client keeps its own backlog at one event, far under the limit.
        await reading.until(() => reading.named().length === broadcasts + 1, `big event ${broadcasts}`)
      }

      assert.equal(
        server.hub.stats().dropped,
        1,
        `the stalled client is dropped (after ${broadcasts} broadcasts)`,
      )
      assert.equal(server.hub.stats().clients, 1)
      // TCP delivers the server's close behind the unread bytes, so the client must read to see it.
      stalled.response?.resume()
      await stalled.until(() => stalled.closed, 'the stalled connection to be destroyed')
      assert.ok(stalled.named().length < broadcasts + 1, 'the stalled client did not get every event')

      server.hub.broadcast('after', {ok: true})
      await reading.until(
        () => reading.named().some((event) => event.event === 'after'),
        'the event after the drop',
      )
      assert.equal(reading.named().filter((event) => event.event === 'big').length, broadcasts)
      assert.equal(reading.closed, false)
      reading.destroy()
    } finally {
      await stop(server)
    }
  })
})

describe('SseHub heartbeat and close', () => {
  it('sends heartbeat comments to every client on the configured interval', async () => {
    const server = await startHub({heartbeatMs: 30})
    try {
      const readers = [new SseReader(server.url), new SseReader(server.url)]
      for (const reader of readers) {
        await reader.until(
          () => reader.events.filter((event) => event.comment === 'heartbeat').length >= 2,
          'two heartbeats',
        )
      }
      assert.equal(server.hub.stats().sent, 2, 'heartbeats are not counted as events')
      for (const reader of readers) reader.destroy()
    } finally {
      await stop(server)
    }
  })

  it('close ends every stream and refuses new ones with 503', async () => {
    const server = await startHub()
    try {
      const reader = new SseReader(server.url)
      await reader.until(() => reader.named().length >= 1, 'the hello event')
      server.hub.close()
      await reader.until(() => reader.closed, 'the stream to end')
      assert.equal(server.hub.stats().clients, 0)

      const response = await fetch(server.url)
      assert.equal(response.status, 503)
      assert.equal(((await response.json()) as {error: string}).error, 'shutting_down')
    } finally {
      await stop(server)
    }
  })
})

describe('SseHub and HEAD', () => {
  it('answers HEAD on a stream route with its headers at once, and keeps no stream open', async () => {
    const server = await startHub()
    try {
      const url = new URL(server.url)
      const answer = await rawRequest(Number(url.port), `HEAD ${url.pathname} HTTP/1.1\r\nHost: x\r\n\r\n`)
      assert.equal(answer.timedOut, false)
      assert.equal(answer.status, 200)
      assert.match(answer.headers, /content-type: text\/event-stream/i)
      assert.equal(server.hub.size, 0)
    } finally {
      await stop(server)
    }
  })
})

describe('SseHub per-owner cap', () => {
  it('refuses an owner over its cap with 429 JSON while other owners of the same address still connect', async () => {
    const hub = new SseHub<undefined>({maxClientsPerIp: 10, maxClientsPerOwner: 2})
    const app = createHttpServer({
      service: 'sse-test',
      logger: pino({level: 'silent'}),
      registry: createRegistry('sse-test'),
    })
    app.get<{Querystring: {owner: string}}>('/stream', async (request, reply) => {
      hub.attach(request, reply, {owner: request.query.owner})
    })
    const {url} = await listen(app, {port: 0})
    const open: AbortController[] = []
    const connect = async (owner: string) => {
      const controller = new AbortController()
      const response = await fetch(`${url}/stream?owner=${owner}`, {signal: controller.signal})
      if (response.status === 200) open.push(controller)
      return response
    }
    try {
      assert.equal((await connect('A')).status, 200)
      assert.equal((await connect('A')).status, 200)
      const refused = await connect('A')
      assert.equal(refused.status, 429)
      assert.equal(((await refused.json()) as {error: string}).error, 'too_many_streams')
      assert.equal((await connect('B')).status, 200, 'another account on the same host')
      open.shift()?.abort()
      await eventually(() => hub.size === 2, 'the closed stream is forgotten')
      assert.equal((await connect('A')).status, 200, 'A may open one again')
    } finally {
      for (const controller of open) controller.abort()
      hub.close()
      await close(app, 100)
    }
  })
})
