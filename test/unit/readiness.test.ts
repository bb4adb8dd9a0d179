import assert from 'node:assert/strict'
import net from 'node:net'
import {describe, it} from 'node:test'
import type {Clock} from '../../src/stack/clock.js'
import {
  type ReadinessCheck,
  ReadinessAbortedError,
  ReadinessTimeoutError,
  allOf,
  logLine,
  tcp,
  waitForReady,
} from '../../src/stack/readiness.js'

/** A clock that only moves when slept on: timeouts of minutes run in microseconds. */
function fakeClock(): Clock & {slept: number[]} {
  let now = 0
  const slept: number[] = []
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms)
      now += ms
    },
  }
}

function failing(
  description: string,
  message = 'connection refused',
  timeoutMs?: number,
): ReadinessCheck & {attempts: number} {
  const check = {
    description,
    timeoutMs,
    attempts: 0,
    probe: async () => {
      check.attempts++
      throw new Error(message)
    },
  }
  return check
}

function readyAfter(description: string, failures: number): ReadinessCheck & {attempts: number} {
  const check = {
    description,
    attempts: 0,
    probe: async () => {
      check.attempts++
      if (check.attempts <= failures) throw new Error('not yet')
    },
  }
  return check
}

describe('readiness', () => {
  it('times out at the overall deadline, naming what it waited for, how long and the last error', async () => {
    const clock = fakeClock()
    const check = failing('AMQP connect to amqp://127.0.0.1:5672')
    await assert.rejects(waitForReady(check, {timeoutMs: 90_000, clock}), (error: unknown) => {
      assert.ok(error instanceof ReadinessTimeoutError)
      assert.equal(
        error.message,
        'timed out after 1m30s waiting for AMQP connect to amqp://127.0.0.1:5672 (last error: connection refused)',
      )
      return true
    })
    assert.equal(clock.now(), 90_000)
    assert.ok(check.attempts > 10, 'retried along the way')
  })

  it('backs off between attempts up to a tenth of a second', async () => {
    const clock = fakeClock()
    await assert.rejects(waitForReady(failing('x'), {timeoutMs: 10_000, clock}))
    assert.deepEqual(clock.slept.slice(0, 5), [25, 50, 100, 100, 100])
    assert.ok(clock.slept.every((ms) => ms <= 100))
  })

  it('lets a strategy give up before the overall deadline', async () => {
    const clock = fakeClock()
    await assert.rejects(
      waitForReady(failing('GET /health', 'HTTP 503', 5000), {timeoutMs: 60_000, clock}),
      /after 5\.0s waiting for GET \/health/,
    )
    assert.equal(clock.now(), 5000)
  })

  it('waits for every part of allOf and names the part that failed', async () => {
    const clock = fakeClock()
    const first = readyAfter('first', 3)
    const second = failing('second part')
    await assert.rejects(
      waitForReady(allOf(first, second), {timeoutMs: 30_000, clock}),
      /waiting for second part/,
    )
    assert.equal(first.attempts, 4)
    assert.equal(clock.now(), 30_000)
  })

  it('reports how long a successful wait took', async () => {
    const clock = fakeClock()
    const {elapsedMs} = await waitForReady(readyAfter('x', 2), {timeoutMs: 10_000, clock})
    assert.equal(elapsedMs, 75)
  })

  it('stops at once when abortIf gives a reason (the process died)', async () => {
    const clock = fakeClock()
    let calls = 0
    const abortIf = () => (++calls === 3 ? 'redis exited while starting' : undefined)
    await assert.rejects(
      waitForReady(failing('x'), {timeoutMs: 60_000, clock, abortIf}),
      (error: unknown) => {
        assert.ok(error instanceof ReadinessAbortedError)
        assert.equal(error.message, 'redis exited while starting')
        return true
      },
    )
    assert.ok(clock.now() < 1000)
  })

  it('tcp succeeds against a listening socket and fails against a closed port', async () => {
    const server = net.createServer((socket) => socket.end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const {port} = server.address() as net.AddressInfo
    await waitForReady(tcp('127.0.0.1', port), {timeoutMs: 1000})
    await new Promise((resolve) => server.close(resolve))
    await assert.rejects(waitForReady(tcp('127.0.0.1', port), {timeoutMs: 200}), /ECONNREFUSED/)
  })

  it('logLine matches only what was written after the start offset', async () => {
    const {mkdtempSync, writeFileSync, appendFileSync, rmSync} = await import('node:fs')
    const dir = mkdtempSync('/tmp/poc-readiness-')
    const file = `${dir}/x.log`
    try {
      writeFileSync(file, 'Server startup complete (an earlier run)\n')
      const check = logLine(file, /Server startup complete/, 41)
      await assert.rejects(waitForReady(check, {timeoutMs: 100}), /no matching line yet/)
      appendFileSync(file, 'booting\nServer startup complete; 3 plugins started.\n')
      await waitForReady(check, {timeoutMs: 1000})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
