import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {SmokeSessionResult} from '../../src/checks/smoke/loop.js'
import type {StackState} from '../../src/stack/state.js'
import {cleanup, makeHome, parseJson, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.smokeFaults

/**
 * Each real fault must make `poc smoke` exit 1 with a failure reason that names the cause; once
 * repaired, the same scenarios pass again (so each test can tell the two apart).
 */
describe('poc smoke names the cause of real faults', () => {
  let home: string

  const smoke = async (only: string) => {
    const run = await runPoc(home, ['smoke', '--only', only, '--timeout', '6s', '--json'])
    return {exitCode: run.exitCode, result: parseJson<SmokeSessionResult>(run), stderr: run.stderr}
  }

  const assertFails = async (only: string, cause: RegExp) => {
    const {exitCode, result} = await smoke(only)
    assert.equal(exitCode, 1, JSON.stringify(result.runs))
    assert.equal(result.status, 'failed')
    assert.match(result.failureReason ?? '', cause)
    return result
  }

  const assertPasses = async (only: string) => {
    const {exitCode, result} = await smoke(only)
    assert.equal(exitCode, 0, result.failureReason)
  }

  before(async () => {
    home = makeHome('smoke-faults')
    await upStack(home, offset)
    await assertPasses('infra,services,timesheet-to-invoice')
  })

  after(async () => {
    await cleanup(home)
  })

  it('invoice-worker stopped', async () => {
    assert.equal((await runPoc(home, ['down', '--only', 'invoice-worker'])).exitCode, 0)
    const result = await assertFails(
      'services,timesheet-to-invoice',
      /services: invoice-worker is not running .*no consumer on shard\.0, shard\.1, shard\.2, shard\.3/,
    )
    const e2e = result.last.scenarios.find((s) => s.id === 'timesheet-to-invoice')
    assert.equal(e2e?.status, 'failed')
    assert.match(e2e?.reason ?? '', /timed out waiting for the invoice of .* in fi/)
    await upStack(home, offset, 'invoice-worker')
    await assertPasses('services,timesheet-to-invoice')
  })

  it('fi stopped', async () => {
    assert.equal((await runPoc(home, ['down', '--only', 'fi'])).exitCode, 0)
    await assertFails('services,timesheet-to-invoice', /services: fi is not running/)
    await upStack(home, offset, 'fi')
    await assertPasses('services,timesheet-to-invoice')
  })

  it('Redis killed (kill -9)', async () => {
    const state = JSON.parse(readFileSync(path.join(home, 'state.json'), 'utf8')) as StackState
    const redis = state.components.find((c) => c.name === 'redis')
    for (const p of redis?.processes ?? []) process.kill(p.pid, 'SIGKILL')
    await assertFails('infra,services', /infra: redis is not running/)
    await upStack(home, offset)
    await assertPasses('infra,services,idempotency')
  })

  it('a shard queue without a consumer (the worker started with fewer shards than the stack)', async () => {
    assert.equal((await runPoc(home, ['down', '--only', 'invoice-worker'])).exitCode, 0)
    const started = await runPoc(home, ['up', '--only', 'invoice-worker'], {NUM_SHARDS: '2'})
    assert.equal(started.exitCode, 0, started.stderr)
    await assertFails(
      'services',
      /services: no consumer on shard\.2, shard\.3: their messages wait unprocessed/,
    )
    assert.equal((await runPoc(home, ['down', '--only', 'invoice-worker'])).exitCode, 0)
    await upStack(home, offset, 'invoice-worker')
    await assertPasses('services')
  })

  it('pm cannot write its state (its data directory mounted read-only)', async (t) => {
    const dir = path.join(home, 'data', 'pm')
    try {
      execFileSync('mount', ['--bind', dir, dir], {stdio: 'pipe'})
    } catch (error) {
      t.skip(`a read-only bind mount needs CAP_SYS_ADMIN: ${(error as Error).message}`)
      return
    }
    try {
      execFileSync('mount', ['-o', 'remount,ro,bind', dir], {stdio: 'pipe'})
      await assertFails(
        'services,timesheet-to-invoice',
        /(pm is unhealthy|POST \/api\/v1\/projects answered 503).*cannot save the pm state to .*pm-poc-state\.json: EROFS/,
      )
      // The failed write is remembered: pm's /health now names it for every later run.
      await assertFails('services', /services: pm is unhealthy \(503\): cannot save the pm state .*EROFS/)
    } finally {
      execFileSync('umount', [dir], {stdio: 'pipe'})
    }
    await assertPasses('services,timesheet-to-invoice')
  })
})
