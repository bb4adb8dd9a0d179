import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {signJwt} from '../../src/contract/jwt.js'
import {servicesWithMetrics} from '../../src/services/metric-families.js'
import type {StatusResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, runPoc, testPortOffsets, upStack} from '../helpers.js'
import {assertLintClean, lintMetrics} from '../promtool.js'

const offset = testPortOffsets.metricsLint

/** `promtool check metrics` on the /metrics of every service the default stack serves, after some traffic. */
describe('promtool check metrics on every running service', () => {
  let home: string
  let urls: Map<string, string>

  before(async () => {
    home = makeHome('metrics-lint')
    await upStack(home, offset)
    const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    urls = new Map(status.components.filter((c) => c.urls.http).map((c) => [c.name, c.urls.http as string]))
    // Series with labels (HTTP routes and statuses, refusal reasons) and histograms with values.
    for (const service of servicesWithMetrics) await fetch(`${urls.get(service)}/health`)
    const secret = readFileSync(path.join(home, 'secrets', 'jwt-hs256-secret'), 'utf8').trim()
    const auth = signJwt({accountId: 'lint'}, secret, {ttlSeconds: 600})
    const gateway = urls.get('gateway') as string
    for (const [key, symbol, qty] of [
      ['lint-1', 'BTC', 1],
      ['lint-2', 'AAPL', 1],
      ['lint-3', 'BTC', 0],
      ['lint-4', 'bad symbol', 1],
    ] as const) {
      await fetch(`${gateway}/orders`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${auth}`,
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        body: JSON.stringify({symbol, side: 'BUY', type: 'LIMIT', qty, price: 10}),
      })
    }
    await fetch(`${gateway}/events?key=BTC`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: '{"price":50000}',
    })
  })
  after(async () => cleanup(home))

  it('runs on pm, fi, sales, credit, contract, invoice-worker, the gateway and the ui', () => {
    assert.deepEqual([...servicesWithMetrics].sort(), [
      'contract',
      'credit',
      'fi',
      'gateway',
      'invoice-worker',
      'pm',
      'sales',
      'ui',
    ])
    for (const service of servicesWithMetrics) assert.ok(urls.get(service), `poc status has ${service}'s url`)
  })

  for (const service of servicesWithMetrics) {
    it(`${service}: promtool finds nothing but the seed's unit names, and passes the rest with exit 0`, async () => {
      const response = await fetch(`${urls.get(service)}/metrics`)
      assert.equal(response.status, 200)
      const text = await response.text()
      assertLintClean(await lintMetrics(text), `${service}'s /metrics`)
      if (service === 'gateway') {
        assert.match(text, /^gateway_reject_total\{reason="INVALID_SYMBOL",service="gateway"\} 1$/m)
        assert.match(text, /^gateway_ack_seconds_count\{service="gateway"\} [1-9]/m)
      }
    })
  }
})
