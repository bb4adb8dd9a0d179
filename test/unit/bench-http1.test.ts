import assert from 'node:assert/strict'
import http from 'node:http'
import net, {type AddressInfo} from 'node:net'
import {after, describe, it} from 'node:test'
import {Http1Pool, HttpProtocolError, requestText} from '../../src/checks/bench/http1.js'

/*
 * The generator's HTTP/1.1 client against servers that write exact bytes (framing cases node:http
 * would not produce on demand: split heads, chunked trailers, 1xx, garbage), and against node:http.
 */

const servers: net.Server[] = []
after(() => {
  for (const server of servers) server.close()
})

/** A server that answers each request (one per connection at a time) with `reply(n)`, written in `pieces`. */
let accepted = 0

async function rawServer(reply: (n: number) => string, pieces = 1): Promise<number> {
  let n = 0
  const server = net.createServer((socket) => {
    accepted++
    let seen = ''
    socket.on('data', (chunk) => {
      seen += chunk.toString('latin1')
      while (seen.includes('\r\n\r\n')) {
        seen = seen.slice(seen.indexOf('\r\n\r\n') + 4)
        const bytes = Buffer.from(reply(n++), 'latin1')
        const size = Math.ceil(bytes.length / pieces)
        for (let at = 0; at < bytes.length; at += size) socket.write(bytes.subarray(at, at + size))
      }
    })
    socket.on('error', () => undefined)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

type Outcome = {status: number} | {error: string}

function ask(pool: Http1Pool, port: number, count: number, method = 'GET'): Promise<Outcome[]> {
  const head = requestText(method, '/x', `127.0.0.1:${port}`, {}, undefined)
  return Promise.all(
    Array.from(
      {length: count},
      () =>
        new Promise<Outcome>((resolve) =>
          pool.dispatch(
            {
              head,
              onDone: (status) => resolve({status}),
              onError: (error) => resolve({error: error.code ?? error.message}),
            },
            method === 'HEAD',
          ),
        ),
    ),
  )
}

describe("the load generator's HTTP/1.1 client", () => {
  it('frames Content-Length answers split into single bytes, on kept-alive connections', async () => {
    const port = await rawServer(() => 'HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello', 40)
    const before = accepted
    const pool = new Http1Pool('127.0.0.1', port, 2)
    assert.deepEqual(await ask(pool, port, 20), Array(20).fill({status: 201}))
    assert.deepEqual(await ask(pool, port, 20), Array(20).fill({status: 201}))
    assert.equal(accepted - before, 2, '40 requests over the pool of 2 connections')
    pool.close()
  })

  it('frames chunked answers with extensions and trailers, and skips a 100 Continue', async () => {
    const port = await rawServer(
      () =>
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n',
      7,
    )
    const pool = new Http1Pool('127.0.0.1', port, 1)
    assert.deepEqual(await ask(pool, port, 5), Array(5).fill({status: 200}))
    pool.close()
  })

  it('answers with no body: 204, 304 and HEAD, whatever Content-Length says', async () => {
    const codes = [204, 304]
    const port = await rawServer((n) =>
      n < 2 ? `HTTP/1.1 ${codes[n]} X\r\n\r\n` : 'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n',
    )
    const pool = new Http1Pool('127.0.0.1', port, 1)
    assert.deepEqual(await ask(pool, port, 2), [{status: 204}, {status: 304}])
    assert.deepEqual(await ask(pool, port, 1, 'HEAD'), [{status: 200}])
    pool.close()
  })

  it('reads an answer without framing to the close, then reconnects for the next', async () => {
    const server = net.createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.0 200 OK\r\n\r\nuntil the end'))
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const pool = new Http1Pool('127.0.0.1', port, 1)
    assert.deepEqual(await ask(pool, port, 3), Array(3).fill({status: 200}))
    pool.close()
  })

  it('fails a garbage answer as a protocol error, and the next request on a new connection works', async () => {
    const port = await rawServer((n) =>
      n === 0 ? 'SSH-2.0-OpenSSH\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    )
    const pool = new Http1Pool('127.0.0.1', port, 1)
    assert.deepEqual(await ask(pool, port, 2), [{error: 'HTTP_PROTOCOL'}, {status: 200}])
    pool.close()
  })

  it('names a refused connection by its code', async () => {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    await new Promise((resolve) => server.close(resolve))
    const pool = new Http1Pool('127.0.0.1', port, 2)
    assert.deepEqual(await ask(pool, port, 3), Array(3).fill({error: 'ECONNREFUSED'}))
    pool.close()
  })

  it('sends method, path, headers and a UTF-8 body as node:http reads them', async () => {
    const seen: Array<{method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string}> = []
    const server = http.createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (d: string) => (body += d))
      req.on('end', () => {
        seen.push({method: req.method, url: req.url, headers: req.headers, body})
        res.end('ok')
      })
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const pool = new Http1Pool('127.0.0.1', port, 1)
    const head = requestText('POST', '/orders?x=1', `127.0.0.1:${port}`, {'x-key': 'k1'}, '{"name":"é"}')
    const status = await new Promise<number>((resolve, reject) =>
      pool.dispatch({head, onDone: resolve, onError: reject}),
    )
    assert.equal(status, 200)
    assert.equal(seen[0]?.method, 'POST')
    assert.equal(seen[0]?.url, '/orders?x=1')
    assert.equal(seen[0]?.headers['x-key'], 'k1')
    assert.equal(seen[0]?.headers.host, `127.0.0.1:${port}`)
    assert.equal(seen[0]?.body, '{"name":"é"}')
    pool.close()
  })

  it('refuses a header value with a line break (no request smuggling through --header)', () => {
    assert.throws(
      () => requestText('GET', '/', 'h', {'x-a': 'v\r\nX-Injected: 1'}, undefined),
      (error: unknown) => error instanceof HttpProtocolError && error.code === 'INVALID_HEADER',
    )
  })
})
