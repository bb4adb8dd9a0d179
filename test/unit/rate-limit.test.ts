import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {RateLimiter} from '../../src/services/shared/rate-limit.js'

describe('RateLimiter', () => {
  it('allows the burst at once, then perSec, and says how long to wait', () => {
    let now = 0
    const limiter = new RateLimiter(2, 5, () => now)
    for (let i = 0; i < 5; i++) assert.equal(limiter.take('a'), undefined, `token ${i}`)
    assert.equal(limiter.take('a'), 1)
    assert.equal(limiter.take('b'), undefined, 'another key has its own bucket')
    now += 500
    assert.equal(limiter.take('a'), undefined, 'one token back after 1/perSec')
    assert.equal(limiter.take('a'), 1)
  })

  it('answers whole seconds of at least 1 for a slow rate', () => {
    let now = 0
    const limiter = new RateLimiter(0.1, 1, () => now)
    assert.equal(limiter.take('a'), undefined)
    assert.equal(limiter.take('a'), 10)
    now += 9_000
    assert.equal(limiter.take('a'), 1)
  })

  it('refuses a limit that is no limit', () => {
    assert.throws(() => new RateLimiter(0, 1), RangeError)
    assert.throws(() => new RateLimiter(1, 0), RangeError)
    assert.throws(() => new RateLimiter(Number.POSITIVE_INFINITY, 1), RangeError)
  })
})
