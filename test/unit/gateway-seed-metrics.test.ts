import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {Registry} from 'prom-client'
import {RateEwma} from '../../src/services/gateway/ewma.js'
import {LatencyHistogram} from '../../src/contract/latency.js'
import {seedStats} from '../../src/services/gateway/stats.js'
import {derivedHistogram} from '../../src/services/shared/metrics.js'

describe('RateEwma', () => {
  it('smooths events per second over ticks with the seed’s beta, and decays without events', () => {
    let now = 0
    const ewma = new RateEwma(0.2, () => now)
    ewma.add(100)
    now = 250
    ewma.tick()
    // 100 events in 0.25 s = 400/s; 0.2 of it the first time.
    assert.equal(ewma.value, 80)
    ewma.add(100)
    now = 500
    ewma.tick()
    assert.equal(ewma.value, 0.8 * 80 + 0.2 * 400)
    now = 750
    ewma.tick()
    assert.equal(ewma.value, 0.8 * (0.8 * 80 + 0.2 * 400))
  })

  it('skips a tick closer than 50 ms to the last, keeping its events for the next', () => {
    let now = 0
    const ewma = new RateEwma(0.5, () => now)
    ewma.add(10)
    now = 10
    ewma.tick()
    assert.equal(ewma.value, 0)
    now = 100
    ewma.tick()
    assert.equal(ewma.value, 0.5 * (10 / 0.1))
    ewma.reset()
    assert.equal(ewma.value, 0)
  })
})

describe('derivedHistogram', () => {
  it('exposes cumulative buckets, +Inf, sum and count as a Prometheus histogram', async () => {
    const registry = new Registry()
    const h = new LatencyHistogram()
    for (const us of [20, 20, 700, 3_000_000]) h.record(us)
    derivedHistogram(registry, 'x_latency_seconds', 'latency', [0.0001, 0.001], () => {
      const b = h.cumulative([100, 1000])
      return {counts: b.counts, sum: b.sum / 1e6, count: b.count}
    })
    const text = await registry.metrics()
    assert.match(text, /^# TYPE x_latency_seconds histogram$/m)
    assert.match(text, /^x_latency_seconds_bucket\{le="0.0001"\} 2$/m)
    assert.match(text, /^x_latency_seconds_bucket\{le="0.001"\} 3$/m)
    assert.match(text, /^x_latency_seconds_bucket\{le="\+Inf"\} 4$/m)
    assert.match(text, /^x_latency_seconds_count 4$/m)
    const sum = Number(/^x_latency_seconds_sum (\S+)$/m.exec(text)?.[1])
    assert.ok(Math.abs(sum - 3.00074) < 0.01, `sum ${sum}`)
  })
})

describe('GET /stats (the seed’s RouterStats keys)', () => {
  it('has every key quick_canary.py and run_canary.sh read, from the gateway’s own figures', () => {
    const histogram = (...values: number[]) => {
      const h = new LatencyHistogram()
      for (const v of values) h.record(v)
      return h
    }
    const stats = seedStats({
      tally: {accepted: 7, queueFull: 2, backpressure: 3, walUnavailable: 1},
      processed: 9,
      publish: histogram(10, 20),
      process: histogram(30, 40),
      durableAck: histogram(500, 600, 700),
      fdatasync: histogram(200),
      walPending: 4,
      outbox: {
        connected: true,
        offset: 0,
        seq: 0,
        lagBytes: 0,
        backoffMs: 0,
        read: 11,
        published: 10,
        skipped: 1,
        errors: 5,
        offsetResets: 0,
        lastError: null,
      },
    })
    assert.equal(stats.fast_path_count, 9)
    assert.equal(stats.fast_path_drop_count, 2)
    assert.equal(stats.fast_path_process_p50_us, 30)
    assert.equal(stats.fast_path_process_p99_us, 40)
    assert.equal(stats.fast_path_process_p999_us, 40)
    assert.equal(stats.fast_path_publish_p50_us, 10)
    assert.equal(stats.fast_path_publish_p99_us, 20)
    assert.equal(stats.fast_path_publish_p999_us, 20)
    assert.equal(stats.persistence_queue_write_p99_us, 200)
    assert.equal(stats.persistence_queue_error_count, 1)
    assert.equal(stats.persistence_queue_lag, 4)
    assert.equal(stats.persistence_queue_publish_count, 7)
    assert.equal(stats.persistence_queue_process_count, 3)
    assert.equal(stats.persistence_queue_drop_count, 3)
    assert.equal(stats.kafka_bridge_send_error_count, 5)
    assert.equal(stats.fast_path_ratio, 1)
    for (const [key, value] of Object.entries(stats)) assert.equal(typeof value, 'number', key)
  })
})
