import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {stripVTControlCharacters} from 'node:util'
import {toJUnit} from '../../src/checks/smoke/junit.js'
import {webhookMessage} from '../../src/checks/smoke/loop.js'
import {selectScenarios} from '../../src/checks/smoke/run.js'
import {scenarios, unhealthyBecause} from '../../src/checks/smoke/scenarios.js'
import type {SmokeReport} from '../../src/checks/smoke/types.js'
import {resultLine} from '../../src/cli/smoke-view.js'
import {PocError} from '../../src/stack/errors.js'

describe('smoke scenario selection', () => {
  it('numbers SPEC §6.1 from 1 to 14 with unique ids', () => {
    assert.deepEqual(
      scenarios.map((s) => s.number),
      Array.from({length: 14}, (_, i) => i + 1),
    )
    assert.equal(new Set(scenarios.map((s) => s.id)).size, 14)
  })

  it('takes ids or numbers, keeps catalog order, and applies --skip after --only', () => {
    assert.deepEqual(
      selectScenarios(['timesheet-to-invoice', '2', ' 1 ']).map((s) => s.id),
      ['infra', 'services', 'timesheet-to-invoice'],
    )
    assert.deepEqual(
      selectScenarios(undefined, ['persistence', '12', '13', '14']).map((s) => s.number),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    )
    assert.deepEqual(
      selectScenarios(['1', '2'], ['2']).map((s) => s.id),
      ['infra'],
    )
  })

  it('refuses an unknown scenario with a usage error listing the known ones', () => {
    assert.throws(
      () => selectScenarios(['nope']),
      (error: unknown) =>
        error instanceof PocError &&
        error.exitCode === 2 &&
        /no smoke scenario "nope"/.test(error.message) &&
        /1 infra, 2 services/.test(error.suggestions[0] ?? ''),
    )
  })
})

describe('unhealthyBecause', () => {
  it('names the cause from a /health answer', () => {
    assert.equal(
      unhealthyBecause(
        {ok: false, state: {writable: false, error: 'cannot save the pm state to /x: EROFS'}},
        '',
      ),
      'cannot save the pm state to /x: EROFS',
    )
    assert.equal(
      unhealthyBecause(
        {ok: false, bus: {connected: false, consumers: [{queue: 'fi.inbox', active: false}]}},
        '',
      ),
      'not connected to RabbitMQ; not consuming fi.inbox',
    )
    assert.equal(unhealthyBecause({ok: false, redis: 'reconnecting'}, ''), 'Redis reconnecting')
    assert.equal(unhealthyBecause(undefined, 'Bad Gateway'), 'Bad Gateway')
  })
})

function report(statuses: Array<'passed' | 'failed' | 'skipped'>): SmokeReport {
  return {
    version: 1,
    runId: 'r1',
    home: '/h',
    portOffset: 0,
    startedAt: '2026-11-23T00:00:00.000Z',
    finishedAt: '2026-11-23T00:00:01.000Z',
    durationMs: 1000,
    status: statuses.includes('failed') ? 'failed' : 'passed',
    counts: {
      passed: statuses.filter((s) => s === 'passed').length,
      failed: statuses.filter((s) => s === 'failed').length,
      skipped: statuses.filter((s) => s === 'skipped').length,
    },
    scenarios: statuses.map((status, i) => ({
      id: `s${i}`,
      number: i + 1,
      title: `scenario <${i}> & "more"`,
      status,
      durationMs: 250,
      timeoutMs: 1000,
      reason: status === 'passed' ? undefined : `why ${i} <b>`,
      evidence:
        status === 'failed'
          ? [
              {
                atMs: 3,
                kind: 'http',
                method: 'GET',
                url: 'http://x/health',
                status: 503,
                responseBody: '{"ok":false}',
              },
            ]
          : [],
    })),
  }
}

describe('JUnit XML', () => {
  it('has one testsuite per run with counts, failures with reason and evidence, skips with reason, all escaped', () => {
    const xml = toJUnit([report(['passed', 'failed', 'skipped']), report(['passed', 'passed', 'skipped'])])
    assert.match(
      xml,
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="poc smoke" tests="6" failures="1" errors="0" skipped="2" time="2.000">/,
    )
    assert.equal(xml.match(/<testsuite /g)?.length, 2)
    assert.match(
      xml,
      /<testsuite name="poc smoke run 1" tests="3" failures="1" errors="0" skipped="1" time="1.000"/,
    )
    assert.match(
      xml,
      /<testcase classname="poc.smoke" name="1 s0: scenario &lt;0&gt; &amp; &quot;more&quot;" time="0.250"\/>/,
    )
    assert.match(
      xml,
      /<failure message="why 1 &lt;b&gt;" type="ScenarioFailure">\+3ms GET http:\/\/x\/health → 503 \{&quot;ok&quot;:false\}<\/failure>/,
    )
    assert.match(xml, /<skipped message="why 2 &lt;b&gt;"\/>/)
    assert.ok(!/[<]b>/.test(xml), 'no unescaped markup from reasons')
  })

  it('drops characters XML cannot carry', () => {
    const broken = report(['failed'])
    ;(broken.scenarios[0] as {reason?: string}).reason = 'bad \u0000 byte'
    assert.match(toJUnit([broken]), /message="bad {2}byte"/)
  })
})

describe('webhook messages', () => {
  const record = {
    run: 2,
    runId: 'r2',
    startedAt: '',
    durationMs: 1,
    status: 'failed' as const,
    counts: {passed: 9, failed: 2, skipped: 3},
    failureReason: '2 services: fi is not running',
    artifacts: '/a/r2',
  }
  it('says what failed and where the artifacts are', () => {
    const {text} = webhookMessage('failure', record, 0)
    assert.match(
      text,
      /poc smoke FAILED on .* \(run 2, r2\): 2 services: fi is not running\nArtifacts: \/a\/r2/,
    )
  })
  it('says how many runs failed before the recovery', () => {
    const {text} = webhookMessage(
      'recovery',
      {...record, status: 'passed', counts: {passed: 11, failed: 0, skipped: 3}},
      2,
    )
    assert.match(text, /RECOVERED .*all 11 scenarios pass again after 2 failed run\(s\)/)
  })
})

describe('scenario result lines', () => {
  const passed = {
    id: 'infra',
    number: 1,
    status: 'passed',
    durationMs: 12,
    summary: 'rabbitmq, redis',
  } as const

  it('carry their own mark in plain output, and none for the live task list, which draws its own', () => {
    const plain = stripVTControlCharacters(resultLine(passed as never))
    const forTaskList = stripVTControlCharacters(resultLine(passed as never, {symbol: false}))
    assert.equal(plain, '✔ 1 infra (12ms) rabbitmq, redis')
    assert.equal(forTaskList, '1 infra (12ms) rabbitmq, redis')
  })
})
