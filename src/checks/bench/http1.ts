import net from 'node:net'
import {performance} from 'node:perf_hooks'

/*
 * The load generator's HTTP/1.1 client: a fixed number of keep-alive connections, one request on
 * the wire per connection (no pipelining, as undici's Pool with pipelining 1 and wrk do), each
 * request written as one string in one write, and answers read by a small parser that only finds
 * where each response ends (status, Content-Length or chunked framing; the body is skipped).
 * A general HTTP client (undici) spent ~50 µs of CPU per request here (its Request object,
 * writev of head and body, promises per request); at 5,000/s that was half a core of its own,
 * taken from the server it measured on the same machine (issue 19).
 */

export interface Http1Request {
  head: string
  /** When the request was handed over (queue time); raw latency starts when it is written. */
  onDone(status: number, sentAt: number, at: number): void
  onError(error: NodeJS.ErrnoException): void
}

/** A response the parser cannot frame, or a connection closed in the middle of one. */
export class HttpProtocolError extends Error {
  constructor(
    message: string,
    readonly code = 'HTTP_PROTOCOL',
  ) {
    super(message)
  }
}

const forbidden = /[\r\n]/

/** The request's head and body as one string: request line, headers, blank line, body. */
export function requestText(
  method: string,
  path: string,
  host: string,
  headers: Record<string, string>,
  body: string | undefined,
): string {
  let text = `${method} ${path} HTTP/1.1\r\n`
  let hasHost = false
  for (const name in headers) {
    const value = headers[name] as string
    if (forbidden.test(name) || forbidden.test(value)) {
      throw new HttpProtocolError(`header ${JSON.stringify(name)} holds a line break`, 'INVALID_HEADER')
    }
    if (!hasHost && name.length === 4 && name.toLowerCase() === 'host') hasHost = true
    text += `${name}: ${value}\r\n`
  }
  if (!hasHost) text += `host: ${host}\r\n`
  if (body !== undefined) text += `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  else if (method === 'POST' || method === 'PUT' || method === 'PATCH') text += 'content-length: 0\r\n\r\n'
  else text += '\r\n'
  return text
}

/** The value of header `name` in a lower-cased response head, trimmed; the first when repeated. */
function headerValue(lower: string, name: string): string | undefined {
  const at = lower.indexOf(`\r\n${name}:`)
  if (at < 0) return undefined
  const start = at + name.length + 3
  const end = lower.indexOf('\r\n', start)
  return lower.slice(start, end < 0 ? undefined : end).trim()
}

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close'

class Connection {
  private socket: net.Socket | undefined
  private connected = false
  private current: Http1Request | undefined
  private currentHead = false
  private sentAt = 0
  private status = 0
  private phase: Phase = 'head'
  private remaining = 0
  private keepAlive = true
  /** An incomplete head or chunk line, as latin1 text (one character per byte). */
  private buffered: string | undefined

  constructor(
    private readonly pool: Http1Pool,
    private readonly host: string,
    private readonly port: number,
  ) {}

  get busy(): boolean {
    return this.current !== undefined
  }

  send(request: Http1Request, isHead: boolean): void {
    this.current = request
    this.currentHead = isHead
    this.status = 0
    this.phase = 'head'
    this.keepAlive = true
    this.buffered = undefined
    if (!this.socket) this.open()
    else if (this.connected) this.write()
  }

  destroy(): void {
    this.socket?.destroy()
    this.socket = undefined
    this.connected = false
  }

  private open(): void {
    const socket = net.connect({host: this.host, port: this.port, noDelay: true})
    this.socket = socket
    socket.on('connect', () => {
      this.connected = true
      if (this.current) this.write()
    })
    // latin1: one character per byte, so lengths are byte counts and the head is searched as text.
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => this.read(chunk))
    socket.on('error', (error: NodeJS.ErrnoException) => this.lost(socket, error))
    socket.on('close', () =>
      this.lost(socket, Object.assign(new Error('the server closed the connection'), {code: 'ECONNRESET'})),
    )
  }

  private write(): void {
    this.sentAt = performance.now()
    this.socket?.write((this.current as Http1Request).head)
  }

  private lost(socket: net.Socket, error: NodeJS.ErrnoException): void {
    if (socket !== this.socket) return
    this.socket = undefined
    this.connected = false
    socket.destroy()
    const request = this.current
    if (!request) return
    this.current = undefined
    if (this.phase === 'until-close') this.complete(request)
    else request.onError(error)
    this.pool.idle(this)
  }

  private complete(request: Http1Request): void {
    request.onDone(this.status, this.sentAt, performance.now())
  }

  /** The answer is complete; bytes after it (a request was never pipelined) end the connection. */
  private finish(extra = false): void {
    if (extra) this.keepAlive = false
    const request = this.current as Http1Request
    this.current = undefined
    if (!this.keepAlive) this.destroy()
    this.complete(request)
    this.pool.idle(this)
  }

  private fail(message: string): void {
    const request = this.current
    this.current = undefined
    this.destroy()
    request?.onError(new HttpProtocolError(message))
    this.pool.idle(this)
  }

  private read(chunk: string): void {
    const data = this.buffered ? this.buffered + chunk : chunk
    this.buffered = undefined
    let at = 0
    if (!this.current) {
      // Bytes nobody asked for: this connection cannot be trusted to frame the next answer.
      this.destroy()
      return
    }
    while (at < data.length) {
      switch (this.phase) {
        case 'head': {
          const end = data.indexOf('\r\n\r\n', at)
          if (end < 0) {
            if (data.length - at > 64 * 1024) return this.fail('a response head longer than 64 KiB')
            this.buffered = data.slice(at)
            return
          }
          const head = data.slice(at, end)
          at = end + 4
          // parseHead sets the phase: 'head' again after a 1xx (the real answer follows).
          const framing = this.parseHead(head)
          if (framing === 'failed') return
          if (framing === 'empty') return this.finish(at < data.length)
          break
        }
        case 'length': {
          const take = Math.min(this.remaining, data.length - at)
          this.remaining -= take
          at += take
          if (this.remaining === 0) return this.finish(at < data.length)
          break
        }
        case 'chunk-size':
        case 'chunk-end':
        case 'trailers': {
          const end = data.indexOf('\r\n', at)
          if (end < 0) {
            if (data.length - at > 8 * 1024) return this.fail('a chunk line longer than 8 KiB')
            this.buffered = data.slice(at)
            return
          }
          const line = data.slice(at, end)
          at = end + 2
          if (this.phase === 'chunk-size') {
            const size = Number.parseInt(line, 16)
            if (!Number.isFinite(size) || size < 0)
              return this.fail(`a bad chunk size ${JSON.stringify(line)}`)
            if (size === 0) this.phase = 'trailers'
            else {
              this.remaining = size
              this.phase = 'chunk-data'
            }
          } else if (this.phase === 'chunk-end') {
            if (line !== '') return this.fail('a chunk without its line end')
            this.phase = 'chunk-size'
          } else if (line === '') {
            return this.finish(at < data.length)
          }
          break
        }
        case 'chunk-data': {
          const take = Math.min(this.remaining, data.length - at)
          this.remaining -= take
          at += take
          if (this.remaining === 0) this.phase = 'chunk-end'
          break
        }
        case 'until-close':
          at = data.length
          break
      }
    }
  }

  /** Status and framing from a response head: 'empty' when it has no body, 'failed' when it failed the request. */
  private parseHead(head: string): 'body' | 'empty' | 'failed' {
    const lineEnd = head.indexOf('\r\n')
    const statusLine = lineEnd < 0 ? head : head.slice(0, lineEnd)
    const match = /^HTTP\/1\.([01]) (\d{3})/.exec(statusLine)
    if (!match) {
      this.fail(`not an HTTP/1.x status line: ${JSON.stringify(statusLine.slice(0, 80))}`)
      return 'failed'
    }
    this.status = Number(match[2])
    this.keepAlive = match[1] === '1'
    // The three headers that frame an answer, found in the lower-cased head (no per-line split).
    const lower = head.toLowerCase()
    const lengthText = headerValue(lower, 'content-length')
    const length = lengthText === undefined ? undefined : Number(lengthText)
    const chunked =
      headerValue(lower, 'transfer-encoding')
        ?.split(',')
        .some((v) => v.trim() === 'chunked') ?? false
    const connection = headerValue(lower, 'connection')
    if (connection?.includes('close')) this.keepAlive = false
    else if (connection?.includes('keep-alive')) this.keepAlive = true
    if (this.status < 200) {
      this.phase = 'head'
      return 'body'
    }
    if (this.currentHead || this.status === 204 || this.status === 304 || (length === 0 && !chunked)) {
      this.phase = 'length'
      this.remaining = 0
      return 'empty'
    }
    if (chunked) {
      this.phase = 'chunk-size'
    } else if (length !== undefined) {
      if (!Number.isSafeInteger(length) || length < 0) {
        this.fail('a bad Content-Length')
        return 'failed'
      }
      this.phase = 'length'
      this.remaining = length
    } else {
      this.phase = 'until-close'
      this.keepAlive = false
    }
    return 'body'
  }
}

/**
 * Up to `connections` keep-alive connections to one origin, opened as they are needed; requests
 * beyond them wait in a FIFO queue and take the first connection that frees up.
 */
export class Http1Pool {
  private readonly connections: Connection[] = []
  private readonly free: Connection[] = []
  private queue: Array<{request: Http1Request; isHead: boolean} | undefined> = []
  private queueHead = 0
  private closed = false

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly size: number,
  ) {}

  dispatch(request: Http1Request, isHead = false): void {
    if (this.closed) {
      request.onError(Object.assign(new Error('the pool is closed'), {code: 'POOL_CLOSED'}))
      return
    }
    const connection = this.free.pop() ?? this.grow()
    if (connection) connection.send(request, isHead)
    else this.queue.push({request, isHead})
  }

  /** A connection finished its request: it takes the next queued one or waits. */
  idle(connection: Connection): void {
    if (this.closed) return
    const next = this.queueHead < this.queue.length ? this.queue[this.queueHead] : undefined
    if (next) {
      this.queue[this.queueHead++] = undefined
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead)
        this.queueHead = 0
      }
      connection.send(next.request, next.isHead)
    } else this.free.push(connection)
  }

  /** Closes every connection; requests still queued or on the wire are dropped unanswered. */
  close(): void {
    this.closed = true
    for (const connection of this.connections) connection.destroy()
    this.queue = []
    this.queueHead = 0
  }

  private grow(): Connection | undefined {
    if (this.connections.length >= this.size) return undefined
    const connection = new Connection(this, this.host, this.port)
    this.connections.push(connection)
    return connection
  }
}
