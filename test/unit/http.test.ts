import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {pino} from 'pino'
import {rawRequest} from '../helpers.js'
import {z} from 'zod'
import {
  HttpError,
  assertAdmin,
  close,
  createHttpServer,
  listen,
  type HttpServer,
} from '../../src/services/shared/http.js'
import {idempotencyKeyOf} from '../../src/services/shared/idempotency-key.js'
import {createRegistry} from '../../src/services/shared/metrics.js'

interface LogLine {
  level: number
  msg: string
  [key: string]: unknown
}

const INFO = 30
const ERROR = 50

/** A real server on an ephemeral port whose log lines the test can read. */
async function startServer(
  options: {bodyLimitBytes?: number; health?: () => Record<string, unknown>} = {},
): Promise<{app: HttpServer; url: string; logs: LogLine[]}> {
  const logs: LogLine[] = []
  const logger = pino(
    {level: 'info', base: {service: 'http-test'}},
    {write: (line) => logs.push(JSON.parse(line))},
  )
  const app = createHttpServer({
    service: 'http-test',
    logger,
    registry: createRegistry('http-test'),
    ...options,
  })
  app.post(
    '/items',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          properties: {name: {type: 'string'}, qty: {type: 'integer', minimum: 1}},
        },
      },
    },
    async (request, reply) => reply.code(201).send({ok: true, item: request.body}),
  )
  app.post('/hours', async (request) => {
    const body = z.object({hours: z.number().positive().max(24)}).parse(request.body)
    return {ok: true, hours: body.hours}
  })
  app.get('/conflict', async () => {
    throw new HttpError(409, 'duplicate_project', 'project P-1 already exists', {projectCode: 'P-1'})
  })
  app.get('/boom', async () => {
    throw new Error('kaboom: a bug in a handler')
  })
  app.get('/hang', () => new Promise(() => {}))
  const {url} = await listen(app, {port: 0})
  return {app, url, logs}
}

const json = {'content-type': 'application/json'}

describe('createHttpServer', () => {
  let server: Awaited<ReturnType<typeof startServer>>
  before(async () => {
    server = await startServer({bodyLimitBytes: 1024})
  })
  after(async () => {
    await close(server.app)
  })

  const errorCases: Array<{
    name: string
    method: string
    path: string
    headers?: Record<string, string>
    body?: string
    status: number
    error: string
    field?: string
    message?: RegExp
    extra?: Record<string, unknown>
  }> = [
    {
      name: 'malformed JSON',
      method: 'POST',
      path: '/items',
      headers: json,
      body: '{"name": "a",',
      status: 400,
      error: 'invalid_json',
    },
    {
      name: 'empty JSON body',
      method: 'POST',
      path: '/items',
      headers: json,
      body: '',
      status: 400,
      error: 'invalid_json',
    },
    {
      name: 'body over the limit',
      method: 'POST',
      path: '/items',
      headers: json,
      body: JSON.stringify({name: 'x'.repeat(2048)}),
      status: 413,
      error: 'payload_too_large',
      message: /1024 bytes/,
    },
    {
      name: 'unknown route',
      method: 'GET',
      path: '/no/such/route',
      status: 404,
      error: 'not_found',
      message: /GET \/no\/such\/route/,
    },
    {
      name: 'undecodable URL',
      method: 'GET',
      path: '/%zz',
      status: 400,
      error: 'bad_request',
      message: /%zz/,
    },
    {
      name: 'unknown method on a known path',
      method: 'DELETE',
      path: '/items',
      status: 404,
      error: 'not_found',
    },
    {
      name: 'text/plain on a JSON route',
      method: 'POST',
      path: '/items',
      headers: {'content-type': 'text/plain'},
      body: 'name=a',
      status: 415,
      error: 'unsupported_media_type',
      message: /text\/plain/,
    },
    {
      name: 'wrong type for a schema field',
      method: 'POST',
      path: '/items',
      headers: json,
      body: JSON.stringify({name: 'a', qty: 'many'}),
      status: 400,
      error: 'validation_failed',
      field: 'qty',
      message: /qty/,
    },
    {
      name: 'missing required schema field',
      method: 'POST',
      path: '/items',
      headers: json,
      body: JSON.stringify({qty: 2}),
      status: 400,
      error: 'validation_failed',
      field: 'name',
      message: /name/,
    },
    {
      name: 'zod validation in a handler',
      method: 'POST',
      path: '/hours',
      headers: json,
      body: JSON.stringify({hours: 30}),
      status: 400,
      error: 'validation_failed',
      field: 'hours',
      message: /hours/,
    },
    {
      name: 'HttpError thrown by a handler',
      method: 'GET',
      path: '/conflict',
      status: 409,
      error: 'duplicate_project',
      message: /^project P-1 already exists$/,
      extra: {projectCode: 'P-1'},
    },
    {
      name: 'plain Error thrown by a handler',
      method: 'GET',
      path: '/boom',
      status: 500,
      error: 'internal',
      message: /service log/,
    },
  ]

  for (const c of errorCases) {
    it(`${c.name} → ${c.status} ${c.error}`, async () => {
      const response = await fetch(`${server.url}${c.path}`, {
        method: c.method,
        headers: c.headers,
        body: c.body,
      })
      assert.equal(response.status, c.status)
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
      const body = (await response.json()) as Record<string, unknown>
      assert.equal(body.error, c.error)
      assert.equal(typeof body.message, 'string')
      if (c.message) assert.match(body.message as string, c.message)
      if (c.field) assert.equal(body.field, c.field)
      for (const [key, value] of Object.entries(c.extra ?? {})) assert.equal(body[key], value)
    })
  }

  it('does not leak the message of an unexpected error, and logs its stack', async () => {
    const response = await fetch(`${server.url}/boom`)
    assert.equal(response.status, 500)
    assert.doesNotMatch(await response.text(), /kaboom/)
    const logged = server.logs.find((line) => line.level === ERROR && line.msg === 'unhandled error')
    assert.ok(logged, 'the unexpected error is logged')
    assert.match((logged.err as {stack: string}).stack, /kaboom: a bug in a handler\n\s+at /)
  })

  it('accepts valid input', async () => {
    const response = await fetch(`${server.url}/items`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({name: 'a', qty: 2}),
    })
    assert.equal(response.status, 201)
    assert.deepEqual(await response.json(), {ok: true, item: {name: 'a', qty: 2}})
  })

  it('answers /health with the service name and uptime', async () => {
    const response = await fetch(`${server.url}/health`)
    assert.equal(response.status, 200)
    const body = (await response.json()) as Record<string, unknown>
    assert.equal(body.ok, true)
    assert.equal(body.service, 'http-test')
    assert.equal(typeof body.uptimeSec, 'number')
  })

  it('exposes default and HTTP metrics with the service label on /metrics', async () => {
    await fetch(`${server.url}/conflict`)
    const response = await fetch(`${server.url}/metrics`)
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/)
    const text = await response.text()
    assert.match(text, /^poc_process_cpu_user_seconds_total\{service="http-test"\} \d/m)
    assert.match(
      text,
      /^poc_http_requests_total\{method="GET",route="\/conflict",status="409",service="http-test"\} [1-9]/m,
    )
  })

  it('logs one info line per request, except for /health and /metrics', async () => {
    await fetch(`${server.url}/health?probe=1`)
    await fetch(`${server.url}/metrics`)
    await fetch(`${server.url}/items`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({name: 'logged'}),
    })
    const requests = server.logs.filter((line) => line.level === INFO && line.msg === 'request')
    const quiet = requests.filter((line) => /^\/(health|metrics)\b/.test(String(line.url)))
    assert.deepEqual(quiet, [])
    const posted = requests.filter(
      (line) => line.method === 'POST' && line.url === '/items' && line.status === 201,
    )
    assert.ok(posted.length >= 1, 'the POST is logged')
    assert.equal(typeof posted[0]?.ms, 'number')
  })
})

describe('createHttpServer health', () => {
  const cases: Array<{name: string; health: () => Record<string, unknown>; status: number; expect: object}> =
    [
      {
        name: 'extra fields are merged',
        health: () => ({amqp: 'connected'}),
        status: 200,
        expect: {ok: true, amqp: 'connected'},
      },
      {
        name: 'ok:false from the check',
        health: () => ({ok: false, amqp: 'down'}),
        status: 503,
        expect: {ok: false, amqp: 'down'},
      },
      {
        name: 'a throwing check',
        health: () => {
          throw new Error('redis ping timed out')
        },
        status: 503,
        expect: {ok: false, error: 'health_check_failed', message: 'redis ping timed out'},
      },
    ]
  for (const c of cases) {
    it(`${c.name} → ${c.status}`, async () => {
      const {app, url} = await startServer({health: c.health})
      try {
        const response = await fetch(`${url}/health`)
        assert.equal(response.status, c.status)
        const body = (await response.json()) as Record<string, unknown>
        assert.equal(body.service, 'http-test')
        for (const [key, value] of Object.entries(c.expect)) assert.equal(body[key], value)
      } finally {
        await close(app)
      }
    })
  }
})

describe('listen and close', () => {
  it('binds 127.0.0.1 by default and reports the ephemeral port', async () => {
    const {app, url} = await startServer()
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
      const address = app.server.address()
      assert.ok(address && typeof address === 'object')
      assert.equal(address.address, '127.0.0.1')
      assert.notEqual(address.port, 0)
    } finally {
      await close(app)
    }
  })

  it('close cuts connections still open after the grace period', async () => {
    const {app, url} = await startServer()
    const hanging = fetch(`${url}/hang`).then(
      () => 'answered',
      () => 'cut',
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    await close(app, 100)
    assert.equal(await hanging, 'cut')
  })
})

describe('assertAdmin', () => {
  const adminApp = (token: string | undefined) => {
    const app = createHttpServer({
      service: 'http-test',
      logger: pino({level: 'silent'}),
      registry: createRegistry('http-test'),
    })
    app.post('/admin/reset', async (request) => {
      assertAdmin(request, token)
      return {ok: true}
    })
    return app
  }
  const cases: Array<{
    name: string
    token: string | undefined
    headers: Record<string, string>
    status: number
    error?: string
  }> = [
    {
      name: 'no token configured, none sent',
      token: undefined,
      headers: {},
      status: 401,
      error: 'unauthorized',
    },
    {
      name: 'no token configured, one sent',
      token: undefined,
      headers: {authorization: 'Bearer anything'},
      status: 401,
      error: 'unauthorized',
    },
    {name: 'token configured, none sent', token: 't0k3n', headers: {}, status: 401, error: 'unauthorized'},
    {
      name: 'wrong token',
      token: 't0k3n',
      headers: {authorization: 'Bearer t0k3m'},
      status: 401,
      error: 'unauthorized',
    },
    {
      name: 'token without Bearer',
      token: 't0k3n',
      headers: {authorization: 't0k3n'},
      status: 401,
      error: 'unauthorized',
    },
    {
      name: 'right token from a browser page',
      token: 't0k3n',
      headers: {authorization: 'Bearer t0k3n', origin: 'https://evil.example'},
      status: 403,
      error: 'forbidden',
    },
    {
      name: 'right token with Origin: null',
      token: 't0k3n',
      headers: {authorization: 'Bearer t0k3n', origin: 'null'},
      status: 403,
      error: 'forbidden',
    },
    {
      name: 'right token with Sec-Fetch-Site',
      token: 't0k3n',
      headers: {authorization: 'Bearer t0k3n', 'sec-fetch-site': 'cross-site'},
      status: 403,
      error: 'forbidden',
    },
    {name: 'right token', token: 't0k3n', headers: {authorization: 'Bearer t0k3n'}, status: 200},
  ]
  for (const c of cases) {
    it(`${c.name} → ${c.status}`, async () => {
      const app = adminApp(c.token)
      try {
        const response = await app.inject({method: 'POST', url: '/admin/reset', headers: c.headers})
        assert.equal(response.statusCode, c.status, response.body)
        const body = response.json() as {error?: string; message?: string}
        if (c.error) {
          assert.equal(body.error, c.error)
          assert.equal(typeof body.message, 'string')
        } else assert.deepEqual(body, {ok: true})
      } finally {
        await app.close()
      }
    })
  }
})

describe('numbers and nesting', () => {
  const app = createHttpServer({
    service: 'http-test',
    logger: pino({level: 'silent'}),
    registry: createRegistry('http-test'),
  })
  app.get(
    '/verify',
    {
      schema: {
        querystring: {type: 'object', properties: {fromSeq: {type: 'integer', minimum: 1}}},
      },
    },
    async (request) => ({ok: true, query: request.query}),
  )
  app.get('/n/:n', {schema: {params: {type: 'object', properties: {n: {type: 'number'}}}}}, async () => ({
    ok: true,
  }))
  app.post('/echo', async (request) => ({ok: true, kind: typeof request.body}))
  after(() => app.close())

  const cases: Array<{name: string; url: string; body?: string; status: number; error?: string}> = [
    {
      name: 'an integer query of 1e309',
      url: '/verify?fromSeq=1e309',
      status: 400,
      error: 'validation_failed',
    },
    {name: 'an integer query of Infinity', url: '/verify?fromSeq=Infinity', status: 400},
    {name: 'an integer query of NaN', url: '/verify?fromSeq=NaN', status: 400},
    {name: 'an integer query of -1e309', url: '/verify?fromSeq=-1e309', status: 400},
    {name: 'a number param of 1e999', url: '/n/1e999', status: 400, error: 'validation_failed'},
    {name: 'a finite integer query', url: '/verify?fromSeq=12', status: 200},
    {
      name: 'a body number of 1e309',
      url: '/echo',
      body: '{"qty":1e309}',
      status: 400,
      error: 'validation_failed',
    },
    {name: 'a nested body number of -1e400', url: '/echo', body: '{"a":[{"b":-1e400}]}', status: 400},
    {
      name: 'a body nested 10,000 deep',
      url: '/echo',
      body: `{"d":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      status: 400,
      error: 'nesting_too_deep',
    },
    {
      name: 'a body nested 100,000 deep',
      url: '/echo',
      body: `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`,
      status: 400,
      error: 'nesting_too_deep',
    },
    {name: 'a body nested 60 deep', url: '/echo', body: `${'['.repeat(60)}${']'.repeat(60)}`, status: 200},
    {
      name: 'a wide body of 300,000 numbers',
      url: '/echo',
      body: `[${Array(300_000).fill(1).join(',')}]`,
      status: 200,
    },
  ]
  for (const c of cases) {
    it(`${c.name} → ${c.status}`, async () => {
      const response = await app.inject({
        method: c.body === undefined ? 'GET' : 'POST',
        url: c.url,
        ...(c.body === undefined ? {} : {payload: c.body, headers: {'content-type': 'application/json'}}),
      })
      assert.equal(response.statusCode, c.status, response.body)
      const body = response.json() as {error?: string; message?: string}
      if (c.status >= 400) {
        assert.equal(typeof body.message, 'string')
        if (c.error) assert.equal(body.error, c.error)
      }
    })
  }
})

describe('what node:http answers on its own', () => {
  let server: Awaited<ReturnType<typeof startServer>>
  let port = 0
  before(async () => {
    server = await startServer()
    port = Number(new URL(server.url).port)
  })
  after(() => close(server.app, 100))

  const cases: Array<{name: string; request: string; status: number; error: string}> = [
    {
      name: 'CONNECT',
      request: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
      status: 405,
      error: 'method_not_allowed',
    },
    {
      name: 'Expect: x-bogus',
      request: 'GET /health HTTP/1.1\r\nHost: x\r\nExpect: x-bogus\r\nConnection: close\r\n\r\n',
      status: 417,
      error: 'expectation_failed',
    },
    {
      name: 'no Host',
      request: 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n',
      status: 400,
      error: 'missing_host',
    },
    {
      name: 'an unparsable request line',
      request: 'BLAH / HTTP/1.1\r\nHost: x\r\n\r\n',
      status: 400,
      error: 'bad_request',
    },
  ]
  for (const c of cases) {
    it(`${c.name} → ${c.status} with a JSON body`, async () => {
      const answer = await rawRequest(port, c.request)
      assert.equal(answer.timedOut, false, 'answered')
      assert.equal(answer.status, c.status, answer.headers)
      assert.match(answer.headers, /content-type: application\/json/i)
      const body = JSON.parse(answer.body) as {error: string; message: string}
      assert.equal(body.error, c.error)
      assert.equal(typeof body.message, 'string')
      assert.equal((await fetch(`${server.url}/health`)).status, 200, 'still serving')
    })
  }

  it('still answers HTTP/1.0 without Host, and Expect: 100-continue', async () => {
    assert.equal((await rawRequest(port, 'GET /health HTTP/1.0\r\n\r\n')).status, 200)
    const body = '{"name":"a"}'
    const answer = await rawRequest(
      port,
      `POST /items HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    )
    assert.match(answer.headers, /^HTTP\/1\.1 (100|201)/)
  })
})

describe('idempotencyKeyOf', () => {
  const app = createHttpServer({
    service: 'http-test',
    logger: pino({level: 'silent'}),
    registry: createRegistry('http-test'),
  })
  app.post('/keyed', async (request) => ({key: idempotencyKeyOf(request) ?? null}))
  after(() => app.close())
  const cases: Array<[string, Record<string, string | string[]>, unknown, number, string | null]> = [
    ['a header', {'idempotency-key': 'k-1'}, {}, 200, 'k-1'],
    ['a body field', {}, {idempotencyKey: 'k-2'}, 200, 'k-2'],
    ['none', {}, {}, 200, null],
    ['a 257-character header', {'idempotency-key': 'k'.repeat(257)}, {}, 400, null],
    ['a 10,000-character body field', {}, {idempotencyKey: 'k'.repeat(10_000)}, 400, null],
    ['a body field that is a number', {}, {idempotencyKey: 42}, 400, null],
    ['a body field with a NUL', {}, {idempotencyKey: 'a\u0000b'}, 400, null],
  ]
  for (const [name, headers, body, status, key] of cases) {
    it(`${name} → ${status}`, async () => {
      const response = await app.inject({method: 'POST', url: '/keyed', headers, payload: body as object})
      assert.equal(response.statusCode, status, response.body)
      if (status === 200) assert.deepEqual(response.json(), {key})
      else assert.equal((response.json() as {error: string}).error, 'invalid_idempotency_key')
    })
  }
})
