import assert from 'node:assert/strict'
import {rmSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {parseCorsOrigins} from '../../src/services/pm/cors.js'
import {main} from '../../src/services/pm/main.js'
import {registerPmRoutes} from '../../src/services/pm/routes.js'
import {close, createHttpServer, listen} from '../../src/services/shared/http.js'
import {createLogger} from '../../src/services/shared/logger.js'
import {createRegistry} from '../../src/services/shared/metrics.js'
import {SseHub} from '../../src/services/shared/sse.js'
import {pmStores} from './pm-stores.js'
import {makeHome, repoRoot} from '../helpers.js'

describe('CORS_ORIGIN', () => {
  it('is a comma list of origins, * for any, the local origins when unset or empty', () => {
    assert.deepEqual(parseCorsOrigins('http://a.example:4000, https://b.example/'), [
      'http://a.example:4000',
      'https://b.example',
    ])
    assert.equal(parseCorsOrigins('http://a.example,*'), '*')
    for (const unset of [undefined, '', ' , ']) {
      const local = parseCorsOrigins(unset) as RegExp[]
      assert.ok(local.some((pattern) => pattern.test('http://localhost:4000')))
      assert.ok(local.some((pattern) => pattern.test('http://127.0.0.1:3000')))
      assert.ok(!local.some((pattern) => pattern.test('http://localhost.evil.example')))
      assert.ok(!local.some((pattern) => pattern.test('https://example.com')))
    }
  })

  it('refuses an entry that is no origin, naming it', () => {
    for (const bad of ['localhost:4000', 'http://a.example/path', 'nonsense', 'file:///x']) {
      assert.throws(
        () => parseCorsOrigins(bad),
        new RegExp(`"${bad.replace(/[/.]/g, '\\$&')}" is not an origin`),
      )
    }
  })

  it('stops pm at start with the configuration error, not later', async () => {
    const dir = makeHome('pmcors-config')
    try {
      await assert.rejects(
        main({CORS_ORIGIN: 'localhost:4000', PORT: '1', DATA_DIR: dir}),
        /invalid configuration: CORS_ORIGIN: CORS_ORIGIN entry "localhost:4000" is not an origin/,
      )
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('pm CORS by default (no CORS_ORIGIN)', () => {
  const dir = makeHome('pmcors')
  const seedFile = path.join(repoRoot, 'fixtures/pm/seed.json')
  const logger = createLogger('pm', 'silent')
  const metricsHub = new SseHub()
  const telemetryHub = new SseHub<Record<string, unknown>>()
  const app = createHttpServer({service: 'pm', logger, registry: createRegistry('pm')})
  let url = ''

  before(async () => {
    registerPmRoutes(app, {
      ...(await pmStores(dir, seedFile, logger)),
      publisher: {
        publishToShard: async () => Promise.reject(new Error('no broker in this test')),
        publish: async () => ({status: 'confirmed'}),
      },
      metricsHub,
      telemetryHub,
      seedFile,
      metricsCacheMs: 5000,
      idempotencyStats: () => ({}),
    })
    url = (await listen(app, {port: 0})).url
  })
  after(async () => {
    metricsHub.close()
    telemetryHub.close()
    await close(app, 100)
    rmSync(dir, {recursive: true, force: true})
  })

  it('answers pages on this machine, on any port, and no one else', async () => {
    for (const [origin, allowed] of [
      ['http://localhost:4000', true],
      ['http://127.0.0.1:3000', true],
      ['http://localhost', true],
      ['http://example.com', false],
      ['http://localhost.example.com', false],
    ] as const) {
      const response = await fetch(`${url}/metrics/summary`, {headers: {origin}})
      assert.equal(response.headers.get('access-control-allow-origin'), allowed ? origin : null, origin)
    }
  })

  it('answers a preflight with 204 and an empty body', async () => {
    const response = await fetch(`${url}/api/v1/projects`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:4000',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })
    assert.equal(response.status, 204)
    assert.equal(await response.text(), '')
    assert.equal(response.headers.get('access-control-allow-origin'), 'http://localhost:4000')
  })

  it('carries the CORS headers on /metrics/stream, so an EventSource on another port reads it', async () => {
    const controller = new AbortController()
    const response = await fetch(`${url}/metrics/stream`, {
      headers: {origin: 'http://localhost:4000'},
      signal: controller.signal,
    })
    assert.equal(response.headers.get('access-control-allow-origin'), 'http://localhost:4000')
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/)
    controller.abort()
  })
})
