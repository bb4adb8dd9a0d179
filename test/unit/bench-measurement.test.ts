import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {measurementOf} from '../../src/checks/bench/bench.js'
import type {BenchResult} from '../../src/contract/bench.js'
import {gate, validateBench} from '../../src/checks/gate.js'
import {repoRoot} from '../helpers.js'

const sampleText = readFileSync(path.join(repoRoot, 'fixtures', 'bench', 'sample-result.json'), 'utf8')

const complete = {
  interrupted: false,
  elapsedSec: 20.01,
  due: 20_000,
  requests: 20_000,
  unsent: 0,
  lateSends: 0,
  abandoned: 0,
}

function withMeasurement(stats: Partial<typeof complete>): BenchResult {
  const result = JSON.parse(sampleText) as BenchResult
  result.measurement = measurementOf({...complete, ...stats}, 20)
  return result
}

describe('whether a bench run is a valid measurement', () => {
  it('is valid when it ran to its end with at most 1 % of the due requests late or unsent', () => {
    const m = measurementOf({...complete, lateSends: 150, unsent: 50}, 20)
    assert.equal(m.valid, true)
    assert.equal(m.schedule_miss_percent, 1)
    assert.deepEqual(m.invalid_reasons, [])
  })

  it('is invalid past 1 %, naming late and unsent requests', () => {
    const m = measurementOf({...complete, lateSends: 150, unsent: 51}, 20)
    assert.equal(m.valid, false)
    assert.equal(m.schedule_miss_percent, 1.005)
    assert.match(
      m.invalid_reasons[0] ?? '',
      /missed its schedule for 1\.005 % of 20000 requests \(150 late, 51 unsent/,
    )
  })

  it('is invalid when interrupted, with the time it really ran', () => {
    const m = measurementOf({...complete, interrupted: true, elapsedSec: 6.04, due: 6040, requests: 6040}, 20)
    assert.equal(m.valid, false)
    assert.equal(m.interrupted, true)
    assert.equal(m.elapsed_sec, 6.04)
    assert.deepEqual(m.invalid_reasons, ['interrupted after 6 of 20 s'])
  })
})

describe('poc gate on the measurement', () => {
  it('adds a passing valid_measurement check to a valid run, and the schema takes it', () => {
    const result = withMeasurement({})
    assert.equal(validateBench(result).ok, true)
    const compliance = gate(result, {profile: 'light'})
    assert.equal(compliance.status, 'PASS')
    assert.equal(compliance.checks[0]?.name, 'valid_measurement')
    assert.equal(compliance.checks[0]?.passed, true)
  })

  it('fails an invalid run as an invalid measurement, though its error rate passes', () => {
    const result = withMeasurement({unsent: 15_400, requests: 4600})
    assert.equal(validateBench(result).ok, true)
    const compliance = gate(result, {profile: 'light'})
    assert.equal(compliance.status, 'FAIL')
    const failed = compliance.checks.filter((c) => !c.passed)
    assert.deepEqual(
      failed.map((c) => c.name),
      ['valid_measurement'],
    )
    assert.match(
      failed[0]?.message ?? '',
      /^invalid measurement, not judged as an SLO miss: the generator missed/,
    )
    assert.equal(compliance.checks.find((c) => c.name === 'error_rate')?.passed, true)
  })

  it('fails an interrupted run', () => {
    const compliance = gate(withMeasurement({interrupted: true, elapsedSec: 3, due: 3000}), {
      profile: 'light',
    })
    assert.equal(compliance.status, 'FAIL')
    assert.match(compliance.checks[0]?.message ?? '', /interrupted after 3 of 20 s/)
  })
})
