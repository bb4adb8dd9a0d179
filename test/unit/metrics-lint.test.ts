import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {seedNamesWithUnits} from '../../src/services/gateway/metrics.js'
import {serviceRegistry, servicesWithMetrics} from '../../src/services/metric-families.js'
import {assertLintClean, lintMetrics} from '../promtool.js'

describe('promtool check metrics on every service registry, built as its main builds it', () => {
  for (const service of servicesWithMetrics) {
    it(`${service}: counters typed counter, no _count on a gauge, nothing else to say`, async () => {
      const text = await serviceRegistry(service).metrics()
      assertLintClean(await lintMetrics(text), `${service}'s registry`)
    })
  }

  it('keeps only seed names that the gateway really exports, each with the _seconds histogram beside its latency', async () => {
    const text = await serviceRegistry('gateway').metrics()
    for (const name of seedNamesWithUnits) assert.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'))
    for (const latency of ['ack', 'durable_ack', 'fast_path_processing', 'wal_enqueue', 'fdatasync']) {
      assert.match(text, new RegExp(`^# TYPE gateway_${latency}_seconds histogram$`, 'm'))
      assert.match(
        text,
        new RegExp(`^gateway_${latency}_seconds_bucket\\{le="0.001",service="gateway"\\} 0$`, 'm'),
      )
    }
  })
})
