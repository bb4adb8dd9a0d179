import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {PocError} from '../../src/stack/errors.js'
import {redriveHeaders, sampleOf, selectDeadQueues} from '../../src/stack/dlq.js'

const broker = [
  'shard.0',
  'shard.0.dead',
  'shard.1',
  'shard.1.dead',
  'shard.2',
  'shard.2.dead',
  'shard.3',
  'shard.3.dead',
  'fi.inbox',
  'fi.inbox.dead',
  'credit.inbox',
  '.dead',
  'deadline',
]

function usageFailure(run: () => unknown): PocError {
  try {
    run()
  } catch (error) {
    assert.ok(error instanceof PocError, `expected a PocError, got ${String(error)}`)
    return error
  }
  assert.fail('expected a usage error')
}

describe('selectDeadQueues', () => {
  it('finds every <queue>.dead with the queue it came from, sorted', () => {
    assert.deepEqual(selectDeadQueues(broker), [
      {queue: 'fi.inbox.dead', source: 'fi.inbox'},
      {queue: 'shard.0.dead', source: 'shard.0'},
      {queue: 'shard.1.dead', source: 'shard.1'},
      {queue: 'shard.2.dead', source: 'shard.2'},
      {queue: 'shard.3.dead', source: 'shard.3'},
    ])
  })

  it('keeps only the one shard asked for', () => {
    assert.deepEqual(selectDeadQueues(broker, 2), [{queue: 'shard.2.dead', source: 'shard.2'}])
    assert.deepEqual(selectDeadQueues(broker, 0), [{queue: 'shard.0.dead', source: 'shard.0'}])
  })

  it('counts a shard whose only queue left is its dead-letter queue', () => {
    assert.deepEqual(selectDeadQueues([...broker, 'shard.7.dead'], 7), [
      {queue: 'shard.7.dead', source: 'shard.7'},
    ])
  })

  it('refuses a shard out of range as a usage error naming the range', () => {
    for (const shard of [4, 99, -1]) {
      const error = usageFailure(() => selectDeadQueues(broker, shard))
      assert.equal(error.exitCode, 2)
      assert.equal(error.message, `--shard ${shard} is out of range: the broker has shards 0 to 3`)
    }
  })

  it('says so when the broker has no shard queues at all', () => {
    const error = usageFailure(() => selectDeadQueues(['fi.inbox', 'fi.inbox.dead'], 0))
    assert.equal(error.exitCode, 2)
    assert.match(error.message, /no shard queues yet/)
    assert.deepEqual(error.suggestions, ['The services declare their queues when they start: poc up'])
  })
})

describe('redriveHeaders', () => {
  it("drops the broker's death record and keeps the event's own headers", () => {
    assert.deepEqual(
      redriveHeaders({
        idempotencyKey: 'k-1',
        type: 'pm.timesheet.approved',
        'x-death': [{count: 1, reason: 'rejected', queue: 'shard.1'}],
        'x-first-death-exchange': 'events',
        'x-first-death-queue': 'shard.1',
        'x-first-death-reason': 'rejected',
        'x-last-death-exchange': 'events',
        'x-last-death-queue': 'shard.1',
        'x-last-death-reason': 'rejected',
        'x-custom': 'kept',
      }),
      {idempotencyKey: 'k-1', type: 'pm.timesheet.approved', 'x-custom': 'kept', 'x-poc-redriven': 1},
    )
    assert.deepEqual(redriveHeaders(undefined), {'x-poc-redriven': 1})
  })

  it('counts each further redrive', () => {
    assert.equal(redriveHeaders({'x-poc-redriven': 2})['x-poc-redriven'], 3)
    assert.equal(redriveHeaders({'x-poc-redriven': 'garbage'})['x-poc-redriven'], 1)
  })
})

describe('sampleOf', () => {
  const envelope = {eventId: 'e-1', type: 'pm.timesheet.approved', key: 'TS-001', payload: {}}
  const headers = {
    type: 'pm.timesheet.approved',
    'x-death': [
      {count: 3, reason: 'rejected', queue: 'shard.1'},
      {count: 1, reason: 'expired', queue: 'other'},
    ],
  }

  it('shows the event id, type header, key and the latest death', () => {
    assert.deepEqual(
      sampleOf({
        payload: JSON.stringify(envelope),
        payload_encoding: 'string',
        properties: {message_id: 'e-1', headers},
      }),
      {eventId: 'e-1', type: 'pm.timesheet.approved', key: 'TS-001', reason: 'rejected', deaths: 3},
    )
  })

  it('reads a base64 body, and leaves out what a message does not carry', () => {
    assert.deepEqual(
      sampleOf({
        payload: Buffer.from(JSON.stringify(envelope)).toString('base64'),
        payload_encoding: 'base64',
        properties: {},
      }),
      {eventId: undefined, type: undefined, key: 'TS-001', reason: undefined, deaths: undefined},
    )
    assert.deepEqual(sampleOf({payload: '{"not": "an envelope"', properties: {message_id: 'g-1'}}), {
      eventId: 'g-1',
      type: undefined,
      key: undefined,
      reason: undefined,
      deaths: undefined,
    })
  })

  it("reads the key and type of the seed producer's flat message, which has no type header", () => {
    const flat = {
      eventId: 'ev-9',
      occurredAt: '2026-01-05T10:00:00.000Z',
      tenantId: 'demo',
      timesheetId: 'TS-009',
      hours: 8,
      idempotencyKey: 'k-9',
    }
    assert.deepEqual(
      sampleOf({
        payload: JSON.stringify(flat),
        payload_encoding: 'string',
        properties: {
          message_id: 'ev-9',
          headers: {
            idempotencyKey: 'k-9',
            timesheetId: 'TS-009',
            'x-death': [{count: 1, reason: 'rejected'}],
          },
        },
      }),
      {eventId: 'ev-9', type: 'pm.timesheet.approved', key: 'TS-009', reason: 'rejected', deaths: 1},
    )
  })
})
