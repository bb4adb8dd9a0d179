import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {pino} from 'pino'
import {decide} from '../../src/services/credit/orders.js'
import {checkRenewal, dueForReminder, renew, upsertContract} from '../../src/services/contract/domain.js'
import {FiReadModel, type JournalEntry} from '../../src/services/fi/read-model.js'
import {invoiceHandler, invoiceIdFor} from '../../src/services/invoice-worker/worker.js'
import type {Delivery, PublishRequest} from '../../src/services/shared/bus.js'
import {type Envelope, makeEnvelope} from '../../src/contract/envelope.js'
import {HttpError} from '../../src/services/shared/http.js'

const logger = pino({level: 'silent'})
const delivery: Delivery = {
  queue: 'shard.1',
  routingKey: 'shard.1',
  redelivered: false,
  messageId: undefined,
  contentType: 'application/json',
  persistent: true,
  headers: {},
  format: 'envelope',
}

function approval(timesheetId: string, idempotencyKey?: string): Envelope {
  return makeEnvelope({
    type: 'pm.timesheet.approved',
    key: timesheetId,
    idempotencyKey,
    payload: {timesheetId, hours: 7.5, projectCode: 'DX-2025-01'},
  }) as Envelope
}

/** A worker over an in-memory idempotency set (the Redis one is exercised by the integration tests). */
function worker(options: {failRate?: number; random?: () => number} = {}) {
  const keys = new Set<string>()
  const published: PublishRequest[] = []
  const handle = invoiceHandler({
    idempotency: {seen: async (k) => keys.has(k), remember: async (k) => void keys.add(k)},
    publish: async (request) => {
      published.push(request)
      return {eventId: request.envelope.eventId, status: 'confirmed'}
    },
    logger,
    failRate: options.failRate ?? 0,
    random: options.random,
    hourlyRate: 8000,
    currency: 'JPY',
  })
  return {handle, published, keys}
}

describe('invoice-worker', () => {
  it('names the invoice from the timesheet and idempotency key, so a redelivery names the same one', () => {
    assert.equal(invoiceIdFor('TS-001', 'k1'), invoiceIdFor('TS-001', 'k1'))
    assert.notEqual(invoiceIdFor('TS-001', 'k1'), invoiceIdFor('TS-001', 'k2'))
    assert.notEqual(invoiceIdFor('TS-001', 'k1'), invoiceIdFor('TS-002', 'k1'))
    assert.match(invoiceIdFor('TS-001', 'k1'), /^INV-[0-9A-F]{16}$/)
  })

  it('publishes one fi.invoice.generated to domain, then skips a second message with the same key', async () => {
    const {handle, published, keys} = worker()
    const first = approval('TS-001', 'same-key')
    assert.equal(await handle(first, delivery), 'ack')
    assert.equal(await handle(approval('TS-001', 'same-key'), delivery), 'ack')
    assert.equal(published.length, 1)
    const [request] = published
    assert.equal(request?.exchange, 'domain')
    assert.equal(request?.routingKey, 'fi.invoice.generated')
    const payload = request?.envelope.payload as Record<string, unknown>
    assert.equal(payload.invoiceId, invoiceIdFor('TS-001', 'same-key'))
    assert.equal(payload.amount, 60000)
    assert.equal(payload.approvedEventId, first.eventId)
    assert.ok(keys.has('same-key'))
  })

  it('dead-letters a drill message (x-poc-fail: until-redriven) until it comes back through a redrive', async () => {
    const {handle, published} = worker()
    const drill = {...delivery, headers: {'x-poc-fail': 'until-redriven'}}
    assert.equal(await handle(approval('TS-001', 'drill-key'), drill), 'dead')
    assert.equal(published.length, 0)
    const redriven = {...delivery, headers: {'x-poc-fail': 'until-redriven', 'x-poc-redriven': 1}}
    assert.equal(await handle(approval('TS-001', 'drill-key'), redriven), 'ack')
    assert.equal(published.length, 1)
  })

  it('does not remember the key when publishing fails, so the redelivery still invoices', async () => {
    const keys = new Set<string>()
    let attempts = 0
    const handle = invoiceHandler({
      idempotency: {seen: async (k) => keys.has(k), remember: async (k) => void keys.add(k)},
      publish: async (request) => {
        if (++attempts === 1) throw new Error('broker gone')
        return {eventId: request.envelope.eventId, status: 'confirmed'}
      },
      logger,
      failRate: 0,
      hourlyRate: 1,
      currency: 'JPY',
    })
    const event = approval('TS-003', 'retry-key')
    await assert.rejects(handle(event, delivery), /broker gone/)
    assert.equal(keys.size, 0)
    assert.equal(await handle(event, delivery), 'ack')
    assert.ok(keys.has('retry-key'))
  })

  it('acknowledges without waiting for Redis to keep the key, and a key it failed to keep is logged', async () => {
    const lines: Array<{level: number; msg: string}> = []
    const captured = pino({level: 'warn'}, {write: (line: string) => void lines.push(JSON.parse(line))})
    let keep: (() => void) | undefined
    let fail: ((error: Error) => void) | undefined
    const handle = invoiceHandler({
      idempotency: {
        seen: async () => false,
        remember: (k) =>
          new Promise<void>((resolve, reject) => {
            keep = resolve
            fail = k === 'lost-key' ? reject : undefined
          }),
      },
      publish: async (request) => ({eventId: request.envelope.eventId, status: 'queued'}),
      logger: captured,
      failRate: 0,
      hourlyRate: 1,
      currency: 'JPY',
    })
    // Still remembering (the promise is pending), yet acknowledged.
    assert.equal(await handle(approval('TS-004', 'slow-key'), delivery), 'ack')
    assert.ok(keep)
    keep()
    assert.equal(await handle(approval('TS-004', 'lost-key'), delivery), 'ack')
    fail?.(new Error('redis gone'))
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(
      lines.map((line) => line.msg),
      ['could not remember the idempotency key; a copy of this approval would name the same invoice again'],
    )
  })

  it('dead-letters by FAIL_RATE, wrong types and payloads without a timesheetId', async () => {
    assert.equal(await worker({failRate: 1, random: () => 0.99}).handle(approval('TS-1'), delivery), 'dead')
    assert.equal(await worker({failRate: 0.5, random: () => 0.7}).handle(approval('TS-1'), delivery), 'ack')
    const {handle} = worker()
    const wrongType = {...approval('TS-1'), type: 'something.else'}
    assert.equal(await handle(wrongType, delivery), 'dead')
    assert.equal(await handle({...approval('TS-1'), payload: {hours: 1}}, delivery), 'dead')
  })
})

function entry(type: string, payload: Record<string, unknown>, occurredAt?: string): JournalEntry {
  const event = makeEnvelope({type, key: String(payload.orderId ?? payload.timesheetId), payload}) as Envelope
  if (occurredAt) event.occurredAt = occurredAt
  return {event, projectedAt: new Date().toISOString()}
}

describe('fi read model', () => {
  it('keeps one invoice per invoiceId whatever repeats, and replays to the same model', () => {
    const invoice = {invoiceId: 'INV-1', timesheetId: 'TS-1', amount: 10, generatedAt: '2026-01-01T00:00:00Z'}
    const first = entry('fi.invoice.generated', invoice)
    const entries = [first, first, entry('fi.invoice.generated', invoice)]
    const model = FiReadModel.replay(entries)
    assert.equal(model.invoices.size, 1)
    assert.equal(model.duplicates, 2)
    assert.deepEqual([...FiReadModel.replay(entries).invoices.keys()], ['INV-1'])
  })

  it('answers order status from confirmations and decisions; a later decision wins, an older one does not', () => {
    const model = new FiReadModel()
    assert.deepEqual(model.orderStatus('SO-9'), {
      orderId: 'SO-9',
      credit: 'unknown',
      confirmed: false,
      onhold: false,
      budgetAllocated: false,
    })
    model.apply(
      entry('sales.order.confirmed', {orderId: 'SO-1', customerId: 'C-1', amount: 5, projectId: 'P-1'}),
    )
    assert.equal(model.orderStatus('SO-1').credit, 'unknown')
    model.apply(entry('sales.credit.rejected', {orderId: 'SO-1'}, '2026-01-01T00:00:02.000Z'))
    model.apply(entry('sales.credit.approved', {orderId: 'SO-1', override: true}, '2026-01-01T00:00:03.000Z'))
    model.apply(entry('sales.credit.rejected', {orderId: 'SO-1'}, '2026-01-01T00:00:01.000Z'))
    const status = model.orderStatus('SO-1')
    assert.equal(status.credit, 'approved')
    assert.equal(status.projectId, 'P-1')
    assert.equal(status.override, true)
  })

  it('ignores a decision republished with the same idempotency key, even when it is newer', () => {
    const model = new FiReadModel()
    const rejected = entry('sales.credit.rejected', {orderId: 'SO-2'}, '2026-01-01T00:00:01.000Z')
    model.apply(rejected)
    model.apply(entry('sales.credit.approved', {orderId: 'SO-2', override: true}, '2026-01-01T00:00:02.000Z'))
    const republished = {
      ...rejected,
      event: {...rejected.event, eventId: 'another', occurredAt: '2026-01-01T00:00:03.000Z'},
    }
    assert.equal(model.isDuplicate(republished.event), true)
    assert.equal(model.apply(republished), false)
    assert.equal(model.orderStatus('SO-2').credit, 'approved')
  })

  it('lists invoices newest first, filtered by idempotency-key prefix', () => {
    const model = FiReadModel.replay(
      ['a-1', 'a-2', 'b-1'].map((key, i) =>
        entry('fi.invoice.generated', {
          invoiceId: `INV-${key}`,
          timesheetId: 'TS-1',
          amount: 1,
          idempotencyKey: key,
          generatedAt: `2026-01-01T00:00:0${i}Z`,
        }),
      ),
    )
    assert.deepEqual(
      model.recentInvoices('a-').map((i) => i.invoiceId),
      ['INV-a-2', 'INV-a-1'],
    )
    // The count GET /invoices?limit=0 answers: the same selection, nothing sorted.
    assert.equal(model.countInvoices('a-'), 2)
    assert.equal(model.countInvoices('b-'), 1)
    assert.equal(model.countInvoices('c-'), 0)
    assert.equal(model.countInvoices(), 3)
  })

  it('orders invoices without generatedAt by projectedAt, both as ISO times', () => {
    const model = new FiReadModel()
    const times = ['2026-01-01T00:00:02.000Z', '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:03.000Z']
    for (const [i, at] of times.entries()) {
      model.apply({
        ...entry('fi.invoice.generated', {invoiceId: `INV-${i}`, timesheetId: 'TS-1', amount: 1}),
        projectedAt: at,
      })
    }
    assert.deepEqual(
      model.recentInvoices().map((i) => i.invoiceId),
      ['INV-2', 'INV-0', 'INV-1'],
    )
  })

  it('applies an invoice with its payload defaults, and counts an invalid entry as a duplicate', () => {
    const model = new FiReadModel()
    assert.equal(
      model.apply(entry('fi.invoice.generated', {invoiceId: 'INV-D', timesheetId: 'TS-1', amount: 3})),
      true,
    )
    assert.equal(model.invoices.get('INV-D')?.status, 'draft')
    assert.equal(model.apply(entry('fi.invoice.generated', {invoiceId: 'INV-E', timesheetId: 'TS-1'})), false)
    assert.equal(model.apply(entry('fi.unknown.event', {invoiceId: 'INV-F'})), false)
    assert.equal(model.invoices.size, 1)
    assert.equal(model.duplicates, 2)
  })
})

describe('credit and contract rules', () => {
  it('approves up to the limit, inclusive', () => {
    assert.equal(decide(1_000_000, 1_000_000), 'approved')
    assert.equal(decide(1_000_001, 1_000_000), 'rejected')
  })

  it('reminds contracts renewing within the window, both ends included', () => {
    const state = {contracts: []}
    const now = new Date('2026-01-01T12:00:00Z')
    for (const [id, date] of [
      ['past', '2025-12-31'],
      ['today', '2026-01-01'],
      ['edge', '2026-03-02'],
      ['later', '2026-03-03'],
    ] as const) {
      upsertContract(state, {contractId: id, customerId: 'C', renewalDate: date, amount: 1}, now)
    }
    assert.deepEqual(
      dueForReminder(state.contracts, '2026-01-01', 60).map((c) => c.contractId),
      ['today', 'edge'],
    )
  })

  it('updates an existing contract, refuses bad dates and renewals that do not move forward', () => {
    const state = {contracts: []}
    const now = new Date()
    const body = {contractId: 'CT-1', customerId: 'C', renewalDate: '2026-09-01', amount: 1}
    assert.equal(upsertContract(state, body, now).created, true)
    assert.equal(upsertContract(state, {...body, amount: 2}, now).created, false)
    assert.equal(state.contracts.length, 1)
    assert.throws(
      () => upsertContract(state, {...body, renewalDate: '2026-02-30'}, now),
      (e: unknown) => e instanceof HttpError && e.status === 400,
    )
    assert.throws(
      () => checkRenewal(state, 'CT-1', '2026-09-01'),
      (e: unknown) => e instanceof HttpError && e.code === 'renewal_not_later',
    )
    assert.throws(
      () => checkRenewal(state, 'nope', '2027-01-01'),
      (e: unknown) => e instanceof HttpError && e.status === 404,
    )
    assert.equal(renew(state, 'CT-1', '2027-09-01', now).renewalDate, '2027-09-01')
  })
})
