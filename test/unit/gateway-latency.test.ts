import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {LatencyHistogram} from '../../src/contract/latency.js'

describe('LatencyHistogram', () => {
  it('reports p50/p99/p999 within its 3-digit precision, and zeros when empty', () => {
    const h = new LatencyHistogram()
    assert.deepEqual(h.percentiles(), {p50: 0, p99: 0, p999: 0})
    for (let us = 1; us <= 100_000; us++) h.record(us)
    const {p50, p99, p999} = h.percentiles()
    assert.equal(h.count, 100_000)
    assert.ok(Math.abs(p50 - 50_000) <= 50, `p50 ${p50}`)
    assert.ok(Math.abs(p99 - 99_000) <= 100, `p99 ${p99}`)
    assert.ok(Math.abs(p999 - 99_900) <= 100, `p999 ${p999}`)
  })

  it('clamps values it cannot track instead of throwing', () => {
    const h = new LatencyHistogram()
    h.record(0)
    h.record(-5)
    h.record(1e12)
    assert.equal(h.count, 3)
    assert.ok(h.percentiles().p999 >= 59_000_000)
  })
})

describe('LatencyHistogram as Prometheus buckets', () => {
  it('counts the values at most each bound, cumulatively, with their sum', () => {
    const h = new LatencyHistogram()
    assert.deepEqual(h.cumulative([10, 100]), {counts: [0, 0], sum: 0, count: 0})
    for (const us of [5, 10, 11, 100, 101, 5000]) h.record(us)
    const buckets = h.cumulative([10, 100, 1000])
    assert.deepEqual(buckets.counts, [2, 4, 5], 'the bounds are inclusive (le); 5000 is above them all')
    assert.equal(buckets.count, 6)
    assert.ok(Math.abs(buckets.sum - 5227) <= 5, `sum ${buckets.sum}`)
    assert.ok(Math.abs(h.mean - 5227 / 6) <= 1, `mean ${h.mean}`)
  })
})
