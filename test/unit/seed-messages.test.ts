import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {pino} from 'pino'
import {type InvoiceDraft, invoiceHandler, invoiceIdFor} from '../../src/services/invoice-worker/worker.js'
import type {Delivery, PublishRequest} from '../../src/services/shared/bus.js'
import {z} from 'zod'
import {
  dateTimeString,
  makeEnvelope,
  messageHeaders,
  parseMessage,
  withSeedApprovalFields,
} from '../../src/contract/envelope.js'

/** What the seed's producer publishes (itdojp/ITDO_ERP3 poc/event-backbone/local/producer): flat, no eventType. */
function producerMessage(timesheetId: string, eventId: string, idempotencyKey: string) {
  return {
    eventId,
    occurredAt: '2026-01-05T10:00:00.000Z',
    tenantId: 'demo',
    timesheetId,
    employeeId: 'E-001',
    projectId: 'P-001',
    approvedBy: 'M-001',
    hours: 8,
    rateType: 'standard',
    idempotencyKey,
  }
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value))

function delivery(format: Delivery['format']): Delivery {
  return {
    queue: 'shard.2',
    routingKey: 'shard.2',
    redelivered: false,
    messageId: undefined,
    contentType: 'application/json',
    persistent: false,
    headers: {},
    format,
  }
}

describe("the seed's flat messages", () => {
  it("reads the producer's message as the approval it means, keyed by its timesheet and idempotency key", () => {
    const parsed = parseMessage(json(producerMessage('TS-007', 'ev-1', 'key-1')), {
      messageId: 'ev-1',
      headers: {idempotencyKey: 'key-1', timesheetId: 'TS-007'},
    })
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason)
    assert.equal(parsed.format, 'seed-flat')
    assert.deepEqual(parsed.envelope, {
      eventId: 'ev-1',
      type: 'pm.timesheet.approved',
      occurredAt: '2026-01-05T10:00:00.000Z',
      tenantId: 'demo',
      key: 'TS-007',
      idempotencyKey: 'key-1',
      payload: {
        timesheetId: 'TS-007',
        hours: 8,
        employeeId: 'E-001',
        projectId: 'P-001',
        approvedBy: 'M-001',
        rateType: 'standard',
      },
    })
  })

  it("takes the seed pm's eventType, and the key from the header, else the eventId, else the message id", () => {
    const {idempotencyKey: _, ...keyless} = producerMessage('TS-001', 'ev-2', 'unused')
    const fromHeader = parseMessage(json({...keyless, eventType: 'pm.timesheet.approved', note: 'n'}), {
      headers: {idempotencyKey: 'header-key'},
    })
    assert.ok(fromHeader.ok)
    assert.equal(fromHeader.envelope.idempotencyKey, 'header-key')
    assert.equal(fromHeader.envelope.payload.note, 'n')
    const fromEventId = parseMessage(json(keyless))
    assert.ok(fromEventId.ok)
    assert.equal(fromEventId.envelope.idempotencyKey, 'ev-2')
    const {eventId: __, ...bare} = keyless
    const fromMessageId = parseMessage(json(bare), {messageId: 'mid-9'})
    assert.ok(fromMessageId.ok)
    assert.deepEqual(
      [fromMessageId.envelope.eventId, fromMessageId.envelope.idempotencyKey],
      ['mid-9', 'mid-9'],
    )
    const other = parseMessage(json({...keyless, eventType: 'pm.project.created'}))
    assert.ok(other.ok)
    assert.equal(
      other.envelope.type,
      'pm.project.created',
      'another type stays itself: the worker refuses it',
    )
  })

  it('refuses, with the reason, what is neither shape, and reports a broken envelope as an envelope', () => {
    const reasons = [
      parseMessage('not json'),
      parseMessage(json([1])),
      parseMessage(json({...producerMessage('TS-1', 'e', 'k'), timesheetId: undefined})),
      parseMessage(json({...producerMessage('TS-1', 'e', 'k'), hours: '8'})),
      parseMessage(json({...producerMessage('TS-1', 'e', 'k'), occurredAt: 'yesterday'})),
      parseMessage(json({timesheetId: 'TS-1', occurredAt: '2026-01-05T10:00:00Z'})),
      parseMessage(json({...makeEnvelope({type: 't', key: 'k', payload: {}}), occurredAt: 'now'})),
    ].map((p) => (p.ok ? 'accepted' : p.reason))
    assert.match(reasons[0] as string, /^the body is not JSON/)
    assert.equal(reasons[1], 'the body is not a JSON object')
    assert.match(
      reasons[2] as string,
      /^neither an event envelope nor the seed's flat message: timesheetId: Required/,
    )
    assert.match(reasons[3] as string, /hours: Expected number, received string/)
    assert.match(reasons[4] as string, /occurredAt: Invalid datetime/)
    assert.match(reasons[5] as string, /has no idempotencyKey or eventId/)
    assert.match(reasons[6] as string, /^not a valid event envelope: occurredAt/)
  })

  it('reads our own envelope as before, whatever seed fields travel beside it', () => {
    const envelope = makeEnvelope({
      type: 'pm.timesheet.approved',
      key: 'TS-1',
      payload: {timesheetId: 'TS-1'},
    })
    const wire = withSeedApprovalFields(envelope, {
      timesheetId: 'TS-1',
      hours: 2,
      employeeId: 'sato',
      projectId: 'PRJ-001',
      approvedBy: 'M-API',
      rateType: 'standard',
    })
    const parsed = parseMessage(json(wire))
    assert.ok(parsed.ok)
    assert.equal(parsed.format, 'envelope')
    assert.deepEqual(parsed.envelope, envelope)
  })
})

describe("pm's approvals, as the seed's consumer reads them", () => {
  it("carry the seed's fields at the top level and timesheetId as a header", () => {
    const envelope = makeEnvelope({
      type: 'pm.timesheet.approved',
      key: 'TS-3',
      idempotencyKey: 'k-3',
      payload: {timesheetId: 'TS-3'},
    })
    const wire = withSeedApprovalFields(envelope, {
      timesheetId: 'TS-3',
      hours: 4,
      employeeId: 'E-001',
      projectId: 'P-001',
      approvedBy: 'M-API',
      rateType: 'standard',
      note: undefined,
    })
    const content = JSON.parse(JSON.stringify(wire)) as Record<string, unknown>
    // The seed's consumer: key = content.idempotencyKey || header; invoice `INV-${content.timesheetId}-…`.
    assert.equal(content.timesheetId, 'TS-3')
    assert.equal(content.idempotencyKey, 'k-3')
    assert.equal(content.eventType, 'pm.timesheet.approved')
    assert.ok(Number.isFinite(Date.parse(content.occurredAt as string)))
    assert.deepEqual(
      {hours: content.hours, employeeId: content.employeeId, rateType: content.rateType},
      {hours: 4, employeeId: 'E-001', rateType: 'standard'},
    )
    assert.equal('note' in content, false, 'an absent field is left out, not sent as null')
    assert.deepEqual(messageHeaders(wire), {
      idempotencyKey: 'k-3',
      type: 'pm.timesheet.approved',
      timesheetId: 'TS-3',
    })
    assert.deepEqual(messageHeaders(envelope), {idempotencyKey: 'k-3', type: 'pm.timesheet.approved'})
    // RabbitMQ closes the connection on a header frame over its frame size: a long id stays in the body only.
    const long = {...wire, timesheetId: 'x'.repeat(100_000)}
    assert.equal(messageHeaders(long).timesheetId, undefined)
  })
})

describe('the invoice-worker on flat messages', () => {
  function worker() {
    const keys = new Set<string>()
    const published: PublishRequest[] = []
    const handle = invoiceHandler({
      idempotency: {seen: async (k) => keys.has(k), remember: async (k) => void keys.add(k)},
      publish: async (request) => {
        published.push(request)
        return {eventId: request.envelope.eventId, status: 'confirmed'}
      },
      logger: pino({level: 'silent'}),
      failRate: 0,
      hourlyRate: 8000,
      currency: 'JPY',
    })
    return {handle, published}
  }

  it('invoices a flat message as hours × rate, once, for it, its redelivery and a copy with the same key', async () => {
    const {handle, published} = worker()
    const read = (message: object) => {
      const parsed = parseMessage(json(message))
      assert.ok(parsed.ok)
      return parsed.envelope
    }
    const message = producerMessage('TS-004', 'ev-4', 'key-4')
    assert.equal(await handle(read(message), delivery('seed-flat')), 'ack')
    assert.equal(await handle(read(message), {...delivery('seed-flat'), redelivered: true}), 'ack')
    assert.equal(await handle(read({...message, eventId: 'ev-4-again'}), delivery('seed-flat')), 'ack')
    assert.equal(published.length, 1)
    const draft = published[0]?.envelope.payload as InvoiceDraft
    assert.equal(draft.invoiceId, invoiceIdFor('TS-004', 'key-4'))
    assert.equal(draft.amount, 64_000)
    assert.deepEqual(
      {format: draft.approvalFormat, rateType: draft.rateType, employeeId: draft.employeeId},
      {format: 'seed-flat', rateType: 'standard', employeeId: 'E-001'},
    )
  })

  it('names the same invoice for a flat message and our envelope of the same approval', async () => {
    const {handle, published} = worker()
    const flat = parseMessage(json(producerMessage('TS-005', 'ev-5', 'key-5')))
    assert.ok(flat.ok)
    await handle(flat.envelope, delivery('seed-flat'))
    const ours = makeEnvelope({
      type: 'pm.timesheet.approved',
      key: 'TS-005',
      idempotencyKey: 'key-5',
      payload: {timesheetId: 'TS-005', hours: 8},
    })
    await handle(ours, delivery('envelope'))
    assert.equal(published.length, 1)
  })
})

describe('event times', () => {
  it("accepts and refuses exactly what zod's datetime({offset: true}) does, with its message", () => {
    const zods = z.string().datetime({offset: true})
    const ours = dateTimeString()
    const samples = [
      '2026-01-05T10:00:00.000Z',
      '2026-01-05T10:00:00Z',
      '2026-01-05T10:00Z',
      '2026-01-05T10:00:00.123456+09:00',
      '2026-01-05T10:00:00+0900',
      '2024-02-29T00:00:00Z',
      '2025-02-29T00:00:00Z',
      '2026-01-05 10:00:00Z',
      '2026-01-05T10:00:00',
      '2026-13-05T10:00:00Z',
      '2026-01-05T24:00:00Z',
      '2026-01-05',
      '',
      'yesterday',
    ]
    for (const sample of samples) {
      assert.equal(ours.safeParse(sample).success, zods.safeParse(sample).success, sample)
    }
    // Used twice in a row (a RegExp with state would answer the second differently).
    assert.equal(ours.safeParse('2026-01-05T10:00:00Z').success, true)
    assert.equal(ours.safeParse('2026-01-05T10:00:00Z').success, true)
    assert.equal(ours.safeParse('nope').error?.issues[0]?.message, 'Invalid datetime')
  })
})
