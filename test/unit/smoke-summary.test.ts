import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {buildLastSummary, type RunRecord, type TelemetryObservation} from '../../src/checks/smoke/summary.js'
import {seedSummaryProblems} from '../seed-summary-rules.js'

function record(run: number, status: RunRecord['status'], failureReason?: string): RunRecord {
  return {
    run,
    runId: `r${run}`,
    startedAt: '2026-03-01T00:00:00.000Z',
    durationMs: 1200,
    status,
    counts: {passed: status === 'passed' ? 3 : 2, failed: status === 'failed' ? 1 : 0, skipped: 0},
    failureReason,
  }
}

const seeded: TelemetryObservation = {
  ok: true,
  health: {
    status: 'ok',
    message: 'telemetry events available',
    events: {
      total: 7,
      seeded: 5,
      lastEventAt: '2026-03-01T00:00:02.000Z',
      lastSeededAt: '2026-03-01T00:00:01.000Z',
    },
    fallbackActive: false,
  },
}

describe('last_summary.json', () => {
  it("passes the seed's validator on success, with its words and our richer fields beside them", () => {
    const summary = buildLastSummary({
      records: [record(1, 'failed', '2 services: fi is not running'), record(2, 'passed')],
      startedAt: '2026-03-01T00:00:00.000Z',
      notifications: [],
      telemetry: seeded,
    })
    assert.deepEqual(seedSummaryProblems(JSON.parse(JSON.stringify(summary))), [])
    assert.deepEqual(
      {
        status: summary.status,
        failure_reason: summary.failure_reason,
        runs: summary.runs,
        attempt: summary.attempt,
        fallback_used: summary.fallback_used,
        telemetry: summary.telemetry,
        telemetry_health: summary.telemetry_health,
      },
      {
        status: 'success',
        failure_reason: '',
        runs: 2,
        attempt: 1,
        fallback_used: false,
        telemetry: {status: 'verified', seeded_count: 5, attempts: 1, min_seeded: 5},
        telemetry_health: {
          status: 'ok',
          message: 'telemetry events available',
          events: {
            total: 7,
            seeded: 5,
            last_event_at: '2026-03-01T00:00:02.000Z',
            last_seeded_at: '2026-03-01T00:00:01.000Z',
          },
          fallback_active: false,
        },
      },
    )
    assert.deepEqual(
      [summary.passed_runs, summary.failed_runs, summary.consecutive_failures, summary.last_run.status],
      [1, 1, 0, 'passed'],
    )
  })

  it("passes it on failure too: the reason a string, pm's silence and an empty store written as the seed reads them", () => {
    const unreachable = buildLastSummary({
      records: [record(1, 'failed', '2 services: pm is not running')],
      startedAt: '2026-03-01T00:00:00.000Z',
      notifications: [],
      telemetry: {ok: false, error: 'GET http://127.0.0.1:3001/health/telemetry failed: ECONNREFUSED'},
    })
    assert.deepEqual(seedSummaryProblems(JSON.parse(JSON.stringify(unreachable))), [])
    assert.equal(unreachable.status, 'failure')
    assert.equal(unreachable.failure_reason, '2 services: pm is not running')
    assert.equal(unreachable.telemetry.status, 'failed-endpoint')
    assert.match(unreachable.telemetry_health.message, /ECONNREFUSED/)

    const empty = buildLastSummary({
      records: [record(1, 'passed')],
      startedAt: '2026-03-01T00:00:00.000Z',
      notifications: [],
      telemetry: {
        ok: true,
        health: {
          status: 'empty',
          message: 'no seeded telemetry events recorded',
          events: {total: 0, seeded: 0, lastEventAt: null, lastSeededAt: null},
          fallbackActive: false,
        },
      },
    })
    assert.deepEqual(seedSummaryProblems(JSON.parse(JSON.stringify(empty))), [])
    assert.deepEqual(empty.telemetry, {status: 'failed', seeded_count: 0, attempts: 1, min_seeded: 5})
    assert.deepEqual(empty.telemetry_health.events, {
      total: 0,
      seeded: 0,
      last_event_at: '',
      last_seeded_at: '',
    })
  })

  it("the rules themselves catch what the seed's validator refuses", () => {
    const good = {
      status: 'success',
      failure_reason: '',
      runs: 1,
      attempt: 1,
      fallback_used: false,
      telemetry: {status: 'verified', seeded_count: 5, attempts: '1'},
    }
    assert.deepEqual(seedSummaryProblems(good), [])
    assert.deepEqual(seedSummaryProblems({...good, failure_reason: null}), [
      'summary: failure_reason is not string: null',
    ])
    const {telemetry: _, ...noTelemetry} = good
    assert.deepEqual(seedSummaryProblems(noTelemetry), ['summary: missing key telemetry'])
    assert.deepEqual(
      seedSummaryProblems({...good, telemetry: {...good.telemetry, seeded_count: 'unknown'}}),
      ['telemetry: seeded_count is not numeric-like: "unknown"'],
    )
    assert.deepEqual(
      seedSummaryProblems({
        ...good,
        telemetry_health: {
          status: 'ok',
          message: '',
          events: {total: 1, seeded: 1, last_event_at: null},
          fallback_active: false,
        },
      }),
      [
        'telemetry_health.events: last_event_at is not string: null',
        'telemetry_health.events: missing key last_seeded_at',
      ],
    )
  })
})
