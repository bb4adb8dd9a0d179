import assert from 'node:assert/strict'
import {rmSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {registerPmRoutes} from '../../src/services/pm/routes.js'
import {createHttpServer} from '../../src/services/shared/http.js'
import {createLogger} from '../../src/services/shared/logger.js'
import {createRegistry} from '../../src/services/shared/metrics.js'
import {RateLimiter} from '../../src/services/shared/rate-limit.js'
import {SseHub} from '../../src/services/shared/sse.js'
import {pmStores} from './pm-stores.js'
import {makeHome, repoRoot} from '../helpers.js'

/** pm's per-client limit on telemetry (issue 13.2); its stream caps are the hub's (sse.test.ts). */
describe('pm telemetry rate limit', () => {
  const dir = makeHome('pmlimits')
  const seedFile = path.join(repoRoot, 'fixtures/pm/seed.json')
  const logger = createLogger('pm', 'silent')
  const metricsHub = new SseHub()
  const telemetryHub = new SseHub<Record<string, unknown>>()
  const app = createHttpServer({service: 'pm', logger, registry: createRegistry('pm')})
  let now = 0

  before(async () => {
    registerPmRoutes(app, {
      ...(await pmStores(dir, seedFile, logger)),
      // Approvals need the broker (covered in pm-approve and on the real bus); project events are accepted.
      publisher: {
        publishToShard: async () => Promise.reject(new Error('no broker in this test')),
        publish: async () => ({status: 'confirmed'}),
      },
      metricsHub,
      telemetryHub,
      seedFile,
      metricsCacheMs: 5000,
      idempotencyStats: () => ({}),
      telemetryLimiter: new RateLimiter(50, 100, () => now),
    })
  })
  after(async () => {
    metricsHub.close()
    telemetryHub.close()
    await app.close()
    rmSync(dir, {recursive: true, force: true})
  })

  const post = (remoteAddress = '127.0.0.1') =>
    app.inject({
      method: 'POST',
      url: '/api/v1/telemetry/ui',
      payload: {component: 'ui', event: 'flood'},
      remoteAddress,
    })

  it('answers 429 rate_limited with Retry-After past the burst, and accepts again once refilled', async () => {
    const answers = []
    for (let i = 0; i < 400; i++) answers.push(await post())
    assert.equal(answers.filter((a) => a.statusCode === 204).length, 100)
    const refused = answers.filter((a) => a.statusCode === 429)
    assert.equal(refused.length, 300)
    assert.equal(refused[0]?.headers['retry-after'], '1')
    const body = refused[0]?.json() as {error: string; message: string}
    assert.equal(body.error, 'rate_limited')
    assert.match(body.message, /50\/s/)
    assert.equal((await post('10.0.0.2')).statusCode, 204, 'another address has its own budget')
    now += 1000
    assert.equal((await post()).statusCode, 204)
    const stored = await app.inject({method: 'GET', url: '/api/v1/telemetry/ui?event=flood&limit=200'})
    assert.equal((stored.json() as {total: number}).total, 102, 'refused events are not kept')
  })
})
