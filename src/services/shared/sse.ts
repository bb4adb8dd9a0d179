import type {ServerResponse} from 'node:http'
import type {FastifyReply, FastifyRequest} from 'fastify'
import {HttpError} from './http.js'

export interface SseHubOptions {
  /** Interval of the `: heartbeat` comment that keeps proxies and idle timeouts from cutting a quiet stream. */
  heartbeatMs?: number
  /** Reconnection delay suggested to EventSource clients. */
  retryMs?: number
  /** Bytes a client may leave unread before it is dropped; bounds memory per slow client. */
  maxPendingBytes?: number
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
}

const HEARTBEAT = Buffer.from(': heartbeat\n\n')

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
  private readonly heartbeat: NodeJS.Timeout
  private nextClientId = 1
  private sequence = 0
  private sent = 0
  private dropped = 0
  private closed = false

  constructor({heartbeatMs = 15_000, retryMs = 3000, maxPendingBytes = 1024 * 1024}: SseHubOptions = {}) {
    this.retryMs = retryMs
    this.maxPendingBytes = maxPendingBytes
    this.heartbeat = setInterval(() => {
      for (const connection of this.connections) this.write(connection, HEARTBEAT)
    }, heartbeatMs)
    // The hub must never be the reason a service fails to exit.
    this.heartbeat.unref()
  }

  /** Takes the request over from fastify and keeps it open as an event stream. */
  attach(
    request: FastifyRequest,
    reply: FastifyReply,
    options: {lastEventId?: string; filter?: F} = {},
  ): SseClient<F> {
    if (this.closed)
      throw new HttpError(503, 'shutting_down', 'the service is shutting down; reconnect shortly')
    reply.hijack()
    const res = reply.raw
    const header = request.headers['last-event-id']
    const connection: Connection<F> = {
      id: this.nextClientId++,
      filter: options.filter as F,
      lastEventId: options.lastEventId ?? (Array.isArray(header) ? header[0] : header),
      res,
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.write(`retry: ${this.retryMs}\n\n`)
    this.connections.add(connection)
    res.once('close', () => this.connections.delete(connection))
    // The peer may already be gone, in which case 'close' has fired before we listened.
    if (res.destroyed) this.connections.delete(connection)
    return connection
  }

  /** Returns false when the client is gone (closed or dropped). */
  send(client: SseClient<F>, event: string, data: unknown): boolean {
    const connection = client as Connection<F>
    if (!this.connections.has(connection)) return false
    return this.deliver(connection, this.frame(event, data))
  }

  /** Returns how many clients the event was written to. */
  broadcast(event: string, data: unknown, predicate?: (client: SseClient<F>) => boolean): number {
    const frame = this.frame(event, data)
    let reached = 0
    for (const connection of this.connections) {
      if (predicate && !predicate(connection)) continue
      if (this.deliver(connection, frame)) reached++
    }
    return reached
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
  }

  private frame(event: string, data: unknown): Buffer {
    // A line break in the name would let the caller forge fields of the event.
    if (/[\r\n]/.test(event)) throw new Error(`SSE event name must be one line: ${JSON.stringify(event)}`)
    // JSON.stringify escapes line breaks, so data always fits on one `data:` line.
    const json = JSON.stringify(data) ?? 'null'
    return Buffer.from(`id: ${++this.sequence}\nevent: ${event}\ndata: ${json}\n\n`)
  }

  private deliver(connection: Connection<F>, frame: Buffer): boolean {
    if (!this.write(connection, frame)) return false
    this.sent++
    return true
  }

  private write(connection: Connection<F>, chunk: Buffer): boolean {
    const {res} = connection
    if (res.destroyed || res.writableEnded) {
      this.connections.delete(connection)
      return false
    }
    if (!res.write(chunk) && res.writableLength > this.maxPendingBytes) {
      this.connections.delete(connection)
      this.dropped++
      res.destroy()
      return false
    }
    return true
  }
}
