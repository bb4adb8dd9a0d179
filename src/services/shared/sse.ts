import type {OutgoingHttpHeaders, ServerResponse} from 'node:http'
import type {FastifyReply, FastifyRequest} from 'fastify'
import {HttpError} from './http.js'
import {MESSAGE_EVENT, RESYNC_EVENT} from '../../contract/streams.js'

export interface SseHubOptions {
  /** Interval of the `: heartbeat` comment that keeps proxies and idle timeouts from cutting a quiet stream. */
  heartbeatMs?: number
  /** Reconnection delay suggested to EventSource clients. */
  retryMs?: number
  /** Bytes a client may leave unread before it is dropped; bounds memory per slow client. */
  maxPendingBytes?: number
  /** Open streams one remote address may hold; a further one is refused with 429. Unlimited when unset. */
  maxClientsPerIp?: number
  /**
   * Open streams one owner (the `owner` given to attach, e.g. an account) may hold, so that one
   * owner cannot take every stream an address may have. Unlimited when unset.
   */
  maxClientsPerOwner?: number
}

export interface SseClient<F> {
  readonly id: number
  /** What this client subscribed to; broadcast predicates read it. */
  readonly filter: F
  /** From the option or the `Last-Event-ID` header: where a reconnecting client wants to resume. */
  readonly lastEventId: string | undefined
}

export interface SseStats {
  clients: number
  /** Events written, counted once per client reached (heartbeats excluded). */
  sent: number
  /** Clients cut off because they stopped reading. */
  dropped: number
}

interface Connection<F> extends SseClient<F> {
  readonly res: ServerResponse
  readonly ip: string
  readonly owner: string | undefined
}

const HEARTBEAT = Buffer.from(': heartbeat\n\n')

// MESSAGE_EVENT is written without an `event:` field, as the seed's pm did, so a client that only
// sets `onmessage` gets it.
export {MESSAGE_EVENT, RESYNC_EVENT}

/** An event the hub writes as soon as a stream opens, before anything else. */
export interface SseInitialEvent {
  event: string
  data: unknown
  id?: string
}

const streamHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
}

/**
 * Server-sent events for many clients. A broadcast is serialised once and the same bytes are
 * written to every socket; one timer sends every heartbeat; a client that does not read is
 * disconnected once its unsent bytes pass `maxPendingBytes`, so memory stays bounded no matter
 * how many clients stall.
 */
export class SseHub<F = undefined> {
  private readonly connections = new Set<Connection<F>>()
  private readonly retryMs: number
  private readonly maxPendingBytes: number
  private readonly maxClientsPerIp: number
  private readonly maxClientsPerOwner: number
  private readonly perIp = new Map<string, number>()
  private readonly perOwner = new Map<string, number>()
  private readonly heartbeat: NodeJS.Timeout
  private nextClientId = 1
  private sequence = 0
  private sent = 0
  private dropped = 0
  private closed = false

  constructor({
    heartbeatMs = 15_000,
    retryMs = 3000,
    maxPendingBytes = 1024 * 1024,
    maxClientsPerIp = Number.POSITIVE_INFINITY,
    maxClientsPerOwner = Number.POSITIVE_INFINITY,
  }: SseHubOptions = {}) {
    this.maxClientsPerOwner = maxClientsPerOwner
    this.retryMs = retryMs
    this.maxPendingBytes = maxPendingBytes
    this.maxClientsPerIp = maxClientsPerIp
    this.heartbeat = setInterval(() => {
      for (const connection of this.connections) this.write(connection, HEARTBEAT)
    }, heartbeatMs)
    // The hub must never be the reason a service fails to exit.
    this.heartbeat.unref()
  }

  /**
   * Takes the request over from fastify and keeps it open as an event stream. The stream opens
   * with the `retry:` hint; with `initial` it opens with that event instead, the hint placed after
   * its `data:` line (field order within an event does not matter to a conforming client), so
   * that the stream's first line is a `data:` line, which the seed's live smoke checks.
   */
  attach(
    request: FastifyRequest,
    reply: FastifyReply,
    options: {lastEventId?: string; filter?: F; owner?: string; initial?: SseInitialEvent} = {},
  ): SseClient<F> {
    if (this.closed)
      throw new HttpError(503, 'shutting_down', 'the service is shutting down; reconnect shortly')
    const ip = request.socket.remoteAddress ?? ''
    const open = this.perIp.get(ip) ?? 0
    if (open >= this.maxClientsPerIp) {
      throw new HttpError(
        429,
        'too_many_streams',
        `${ip} already holds ${open} event streams (the limit is ${this.maxClientsPerIp}); close one first`,
      )
    }
    const owned = options.owner === undefined ? 0 : (this.perOwner.get(options.owner) ?? 0)
    if (owned >= this.maxClientsPerOwner) {
      throw new HttpError(
        429,
        'too_many_streams',
        `${options.owner} already holds ${owned} event streams (the limit is ${this.maxClientsPerOwner}); close one first`,
      )
    }
    const {initial} = options
    // Framed before the hijack: a bad name or id throws while fastify can still answer. HEAD asks
    // for the headers only: a stream kept open for it never ends, as it has no body.
    const opening =
      request.method === 'HEAD'
        ? undefined
        : initial
          ? this.frame(initial.event, initial.data, initial.id, this.retryMs)
          : Buffer.from(`retry: ${this.retryMs}\n\n`)
    // Headers hooks set on the reply (CORS) would be lost to the hijack: they go out with ours.
    const headers: OutgoingHttpHeaders = {...(reply.getHeaders() as OutgoingHttpHeaders), ...streamHeaders}
    reply.hijack()
    const res = reply.raw
    if (opening === undefined) {
      res.writeHead(200, headers)
      res.end()
      return {id: 0, filter: options.filter as F, lastEventId: undefined}
    }
    const header = request.headers['last-event-id']
    const connection: Connection<F> = {
      id: this.nextClientId++,
      filter: options.filter as F,
      lastEventId: options.lastEventId ?? (Array.isArray(header) ? header[0] : header),
      res,
      ip,
      owner: options.owner,
    }
    res.writeHead(200, headers)
    res.write(opening)
    if (initial) this.sent++
    this.add(connection)
    res.once('close', () => this.remove(connection))
    // The peer may already be gone, in which case 'close' has fired before we listened.
    if (res.destroyed) this.remove(connection)
    return connection
  }

  /**
   * Returns false when the client is gone (closed or dropped). `id` replaces the hub's own
   * sequence number when the caller keeps a replay buffer under its own ids. An `event` of
   * MESSAGE_EVENT goes out unnamed: EventSource's `onmessage` gets it.
   */
  send(client: SseClient<F>, event: string, data: unknown, id?: string): boolean {
    const connection = client as Connection<F>
    if (!this.connections.has(connection)) return false
    return this.deliver(connection, this.frame(event, data, id))
  }

  /** Returns how many clients the event was written to. */
  broadcast(
    event: string,
    data: unknown,
    predicate?: (client: SseClient<F>) => boolean,
    id?: string,
  ): number {
    const frame = this.frame(event, data, id)
    let reached = 0
    for (const connection of this.connections) {
      if (predicate && !predicate(connection)) continue
      if (this.deliver(connection, frame)) reached++
    }
    return reached
  }

  /** Open streams (cheaper than stats() on a hot path). */
  get size(): number {
    return this.connections.size
  }

  stats(): SseStats {
    return {clients: this.connections.size, sent: this.sent, dropped: this.dropped}
  }

  /** Ends every stream and refuses new ones; call it before closing the HTTP server. */
  close(): void {
    this.closed = true
    clearInterval(this.heartbeat)
    for (const connection of this.connections) connection.res.end()
    this.connections.clear()
    this.perIp.clear()
    this.perOwner.clear()
  }

  private add(connection: Connection<F>): void {
    this.connections.add(connection)
    this.perIp.set(connection.ip, (this.perIp.get(connection.ip) ?? 0) + 1)
    if (connection.owner !== undefined)
      this.perOwner.set(connection.owner, (this.perOwner.get(connection.owner) ?? 0) + 1)
  }

  private remove(connection: Connection<F>): void {
    if (!this.connections.delete(connection)) return
    const left = (this.perIp.get(connection.ip) ?? 1) - 1
    if (left > 0) this.perIp.set(connection.ip, left)
    else this.perIp.delete(connection.ip)
    if (connection.owner === undefined) return
    const owned = (this.perOwner.get(connection.owner) ?? 1) - 1
    if (owned > 0) this.perOwner.set(connection.owner, owned)
    else this.perOwner.delete(connection.owner)
  }

  /**
   * One event. An unnamed (MESSAGE_EVENT) one starts with its `data:` line, the id after it; a
   * named one starts with its id and name. `retryMs` adds the reconnection hint after the data.
   */
  private frame(event: string, data: unknown, id?: string, retryMs?: number): Buffer {
    // A line break in the name or id would let the caller forge fields of the event.
    if (/[\r\n]/.test(event)) throw new Error(`SSE event name must be one line: ${JSON.stringify(event)}`)
    if (id !== undefined && /[\r\n]/.test(id))
      throw new Error(`SSE event id must be one line: ${JSON.stringify(id)}`)
    // JSON.stringify escapes line breaks, so data always fits on one `data:` line.
    const dataLine = `data: ${JSON.stringify(data) ?? 'null'}\n`
    const idLine = `id: ${id ?? ++this.sequence}\n`
    const retryLine = retryMs === undefined ? '' : `retry: ${retryMs}\n`
    return Buffer.from(
      event === MESSAGE_EVENT
        ? `${dataLine}${idLine}${retryLine}\n`
        : `${idLine}event: ${event}\n${dataLine}${retryLine}\n`,
    )
  }

  private deliver(connection: Connection<F>, frame: Buffer): boolean {
    if (!this.write(connection, frame)) return false
    this.sent++
    return true
  }

  private write(connection: Connection<F>, chunk: Buffer): boolean {
    const {res} = connection
    if (res.destroyed || res.writableEnded) {
      this.remove(connection)
      return false
    }
    if (!res.write(chunk) && res.writableLength > this.maxPendingBytes) {
      this.remove(connection)
      this.dropped++
      res.destroy()
      return false
    }
    return true
  }
}
