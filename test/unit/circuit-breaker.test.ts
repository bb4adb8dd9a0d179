import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {CircuitBreaker, CircuitOpenError} from '../../src/services/shared/circuit-breaker.js'

const fail = async (): Promise<never> => {
  throw new Error('down')
}
const succeed = async () => 'ok'

function breaker() {
  let now = 0
  const changes: string[] = []
  const cb = new CircuitBreaker({
    name: 'pm',
    now: () => now,
    onStateChange: (state, previous) => changes.push(`${previous}->${state}`),
  })
  return {cb, changes, advance: (ms: number) => (now += ms)}
}

describe('CircuitBreaker (3 failures → open 60 s → half-open probe)', () => {
  it('stays closed below three consecutive failures, and a success resets the count', async () => {
    const {cb} = breaker()
    await assert.rejects(cb.call(fail), /down/)
    await assert.rejects(cb.call(fail), /down/)
    assert.equal(await cb.call(succeed), 'ok')
    await assert.rejects(cb.call(fail), /down/)
    await assert.rejects(cb.call(fail), /down/)
    assert.equal(cb.state, 'closed')
  })

  it('opens on the third failure and then fails fast without calling the dependency', async () => {
    const {cb, advance} = breaker()
    for (let i = 0; i < 3; i++) await assert.rejects(cb.call(fail), /down/)
    assert.equal(cb.state, 'open')
    let called = false
    advance(59_999)
    await assert.rejects(
      cb.call(async () => {
        called = true
      }),
      (error: unknown) => error instanceof CircuitOpenError && error.retryInMs === 1,
    )
    assert.equal(called, false)
  })

  it('lets one probe through after 60 s: success closes, failure opens for another 60 s', async () => {
    const {cb, advance, changes} = breaker()
    for (let i = 0; i < 3; i++) await assert.rejects(cb.call(fail), /down/)
    advance(60_000)
    assert.equal(cb.state, 'half-open')
    await assert.rejects(cb.call(fail), /down/)
    assert.equal(cb.state, 'open')
    advance(60_000)
    let release!: () => void
    const probe = cb.call(() => new Promise<string>((resolve) => (release = () => resolve('ok'))))
    // While the probe is out, everyone else still fails fast.
    await assert.rejects(cb.call(succeed), CircuitOpenError)
    release()
    assert.equal(await probe, 'ok')
    assert.equal(cb.state, 'closed')
    assert.deepEqual(changes, [
      'closed->open',
      'open->half-open',
      'half-open->open',
      'open->half-open',
      'half-open->closed',
    ])
  })
})
