import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {pino} from 'pino'
import {type Envelope, makeEnvelope} from '../../src/contract/envelope.js'
import {orderEvents} from '../../src/contract/orders.js'
import {type CreditStore, creditHandler} from '../../src/services/credit/decide.js'
import {
  actionKey,
  allowedFrom,
  type CreditAction,
  type CreditState,
  type CreditStatus,
  checkAction,
  recordAction,
  recordDecision,
} from '../../src/services/credit/orders.js'
import {registerCreditRoutes} from '../../src/services/credit/routes.js'
import {FiReadModel, type JournalEntry, nextOrderView} from '../../src/services/fi/read-model.js'
import type {PublishRequest} from '../../src/services/shared/bus.js'
import {close, createHttpServer, HttpError, listen} from '../../src/services/shared/http.js'
import {KeyedSerial} from '../../src/services/shared/keyed-serial.js'
import {createRegistry} from '../../src/services/shared/metrics.js'

const logger = pino({level: 'silent'})
const at = new Date('2026-01-01T00:00:00Z')

/** Credit's state in memory; the StateFile behind it in the service is covered by the integration test. */
function memoryStore(state: CreditState = {orders: {}}): CreditStore & {state: CreditState} {
  return {
    state,
    get current() {
      return state
    },
    mutate: async (change) => change(state),
  }
}

function stateWith(status: CreditStatus): CreditState {
  return {
    orders: {'SO-1': {orderId: 'SO-1', amount: 10, status, version: 3, updatedAt: at.toISOString()}},
  }
}

function httpError(status: number, code: string) {
  return (error: unknown) => error instanceof HttpError && error.status === status && error.code === code
}

describe('credit order states', () => {
  const statuses: CreditStatus[] = ['requested', 'approved', 'onhold', 'revoked']
  const actions: CreditAction[] = ['reapply', 'override', 'revoke']

  it('allows each action only from the states of the seed diagram, and refuses the rest with 409', () => {
    const table = Object.fromEntries(
      actions.map((action) => [
        action,
        statuses.filter((status) => {
          try {
            checkAction(stateWith(status), 'SO-1', action)
            return true
          } catch (error) {
            assert.ok(httpError(409, 'action_not_allowed')(error), `${action} from ${status}`)
            return false
          }
        }),
      ]),
    )
    assert.deepEqual(table, {
      reapply: ['onhold', 'revoked'],
      override: ['onhold', 'revoked'],
      revoke: ['approved', 'onhold'],
    })
    assert.deepEqual(table, allowedFrom)
  })

  it('answers 404 for an order it never saw, also for names of Object.prototype', () => {
    for (const id of ['SO-NEVER', 'constructor', '__proto__', 'toString']) {
      assert.throws(() => checkAction({orders: {}}, id, 'revoke'), httpError(404, 'order_not_found'))
    }
  })

  it('says a pending decision is pending', () => {
    assert.throws(() => checkAction(stateWith('requested'), 'SO-1', 'override'), /decision is pending/)
  })

  it('records decisions and actions, counting versions, so an action retried before its record repeats its key', () => {
    const state: CreditState = {orders: {}}
    const held = recordDecision(state, {orderId: 'SO-2', amount: 9, projectId: 'P'}, 'rejected', 'over', at)
    assert.deepEqual([held.status, held.version], ['onhold', 1])
    const key = actionKey('override', checkAction(state, 'SO-2', 'override'))
    // The same check again (a retry after a crash that lost the record) names the same event.
    assert.equal(actionKey('override', checkAction(state, 'SO-2', 'override')), key)
    const approved = recordAction(
      state,
      'SO-2',
      'override',
      {amount: 8, approver: 'm', reason: 'r', version: 1},
      at,
    )
    assert.deepEqual(
      [approved.status, approved.version, approved.amount, approved.approver],
      ['approved', 2, 8, 'm'],
    )
    assert.equal(approved.projectId, 'P')
    const revoked = recordAction(state, 'SO-2', 'revoke', {reason: 'r', version: 2}, at)
    assert.deepEqual([revoked.status, revoked.approver], ['revoked', undefined])
    assert.notEqual(actionKey('override', revoked), key)
    const again = recordDecision(state, {orderId: 'SO-2', amount: 1}, 'approved', 'ok', at)
    assert.deepEqual([again.status, again.version, again.projectId], ['approved', 4, 'P'])
  })

  it("keeps a decision recorded between an action's check and its record (a re-application decided at once)", () => {
    const state: CreditState = {orders: {}}
    recordDecision(state, {orderId: 'SO-3', amount: 500}, 'rejected', 'over', at)
    const checked = checkAction(state, 'SO-3', 'reapply')
    // credit.inbox decides the published request before the route records it.
    recordDecision(state, {orderId: 'SO-3', amount: 50}, 'approved', 'ok', at)
    const recorded = recordAction(
      state,
      'SO-3',
      'reapply',
      {amount: 50, reason: 'r', version: checked.version},
      at,
    )
    assert.deepEqual([recorded.status, recorded.version], ['approved', 2])
    assert.equal(state.orders['SO-3']?.status, 'approved', 'not left requested for ever')
  })
})

function order(type: string, payload: Record<string, unknown>, idempotencyKey?: string): Envelope {
  return makeEnvelope({type, key: String(payload.orderId), payload, idempotencyKey}) as Envelope
}

function payloadOf(request: PublishRequest | undefined): Record<string, unknown> {
  return (request?.envelope.payload ?? {}) as Record<string, unknown>
}

function credit(store = memoryStore()) {
  const keys = new Set<string>()
  const published: PublishRequest[] = []
  const handle = creditHandler({
    limit: 100,
    idempotency: {seen: async (k) => keys.has(k), remember: async (k) => void keys.add(k)},
    publish: async (request) => {
      published.push(request)
      return {eventId: request.envelope.eventId, status: 'confirmed'}
    },
    store,
    logger,
  })
  const types = () => published.map((p) => [p.routingKey, p.envelope.type, p.exchange])
  return {handle, published, store, keys, types}
}

describe('credit decisions (credit.inbox)', () => {
  it('approves within the limit, rejects and holds over it, each on domain under its type', async () => {
    const {handle, published, store, types} = credit()
    const under = order(orderEvents.orderConfirmed, {orderId: 'SO-U', amount: 100, projectId: 'P'}, 'k-u')
    assert.equal(await handle(under), 'ack')
    const over = order(orderEvents.orderConfirmed, {orderId: 'SO-O', amount: 101}, 'k-o')
    assert.equal(await handle(over), 'ack')
    assert.deepEqual(types(), [
      ['sales.credit.approved', 'sales.credit.approved', 'domain'],
      ['sales.credit.rejected', 'sales.credit.rejected', 'domain'],
      ['sales.credit.onhold', 'sales.credit.onhold', 'domain'],
    ])
    assert.deepEqual(
      published.map((p) => p.envelope.idempotencyKey),
      ['credit-decision:k-u', 'credit-decision:k-o', 'credit-onhold:k-o'],
    )
    assert.deepEqual(published[0]?.envelope.payload, {
      orderId: 'SO-U',
      amount: 100,
      projectId: 'P',
      limit: 100,
      reason: 'within credit limit',
    })
    assert.equal(store.state.orders['SO-U']?.status, 'approved')
    assert.equal(store.state.orders['SO-O']?.status, 'onhold')
  })

  it('decides nothing twice for one idempotency key', async () => {
    const {handle, published} = credit()
    const event = order(orderEvents.orderConfirmed, {orderId: 'SO-D', amount: 1}, 'k-d')
    await handle(event)
    assert.equal(await handle({...event, eventId: 'redelivered'}), 'ack')
    assert.equal(published.length, 1)
  })

  it("decides a re-application again, with the order's amount when it names none", async () => {
    const {handle, published, store} = credit()
    await handle(order(orderEvents.orderConfirmed, {orderId: 'SO-R', amount: 500, customerId: 'C'}, 'k-1'))
    await handle(order(orderEvents.creditRequested, {orderId: 'SO-R', amount: 50}, 'k-2'))
    assert.equal(store.state.orders['SO-R']?.status, 'approved')
    assert.equal(published.at(-1)?.envelope.type, 'sales.credit.approved')
    assert.equal(payloadOf(published.at(-1)).customerId, 'C')
    await handle(order(orderEvents.creditRequested, {orderId: 'SO-R'}, 'k-3'))
    assert.equal(payloadOf(published.at(-1)).amount, 50)
    // Unknown to credit and without an amount: nothing to decide on.
    assert.equal(await handle(order(orderEvents.creditRequested, {orderId: 'SO-X'}, 'k-4')), 'dead')
    assert.equal(await handle(order(orderEvents.orderConfirmed, {orderId: 'SO-Y'}, 'k-5')), 'dead')
    assert.equal(await handle(order(orderEvents.orderConfirmed, {amount: 1}, 'k-6')), 'dead')
  })
})

describe('credit routes', () => {
  const store = memoryStore()
  const published: PublishRequest[] = []
  let hold: Promise<void> | undefined
  let app: ReturnType<typeof createHttpServer>
  let url = ''

  before(async () => {
    app = createHttpServer({
      service: 'credit',
      logger,
      registry: createRegistry('credit'),
      bodyLimitBytes: 65_536,
    })
    registerCreditRoutes(app, {
      store,
      publish: async (request) => {
        await hold
        published.push(request)
        return {eventId: request.envelope.eventId, status: 'confirmed'}
      },
      numShards: 4,
      logger,
      reset: async () => {
        store.state.orders = {}
      },
    })
    url = (await listen(app, {port: 0})).url
  })

  after(() => close(app, 100))

  const lastPayload = () => payloadOf(published.at(-1))
  const call = async (method: string, route: string, body?: unknown) => {
    const response = await fetch(`${url}${route}`, {
      method,
      headers: body === undefined ? {} : {'content-type': 'application/json'},
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return {status: response.status, json: (await response.json()) as Record<string, unknown>}
  }

  it('revokes, re-applies and overrides with the seed shapes, 404 for an unknown order, 409 when not allowed', async () => {
    recordDecision(
      store.state,
      {orderId: 'SO-1', amount: 5000, customerId: 'C', projectId: 'P'},
      'rejected',
      'over',
      at,
    )
    assert.deepEqual(
      [
        (await call('POST', '/credit/revoke', {orderId: 'SO-NONE'})).status,
        (await call('GET', '/credit/orders/SO-NONE')).status,
      ],
      [404, 404],
    )
    const override = await call('POST', '/credit/override', {
      orderId: 'SO-1',
      amount: 4000,
      approver: 'manager',
    })
    assert.equal(override.status, 200)
    assert.equal(override.json.ok, true)
    assert.equal(override.json.accepted, true)
    assert.equal(override.json.credit, 'approved')
    assert.equal(typeof override.json.shard, 'number')
    assert.deepEqual(published.at(-1)?.envelope.payload, {
      orderId: 'SO-1',
      customerId: 'C',
      amount: 4000,
      projectId: 'P',
      approver: 'manager',
      reason: 'manual override',
      override: true,
    })
    assert.equal(published.at(-1)?.envelope.idempotencyKey, 'credit-override:SO-1:1')
    const twice = await call('POST', '/credit/override', {orderId: 'SO-1', amount: 4000, approver: 'manager'})
    assert.deepEqual(
      [twice.status, twice.json.error, twice.json.status],
      [409, 'action_not_allowed', 'approved'],
    )
    assert.equal((await call('POST', '/credit/reapply', {orderId: 'SO-1'})).status, 409)

    const revoke = await call('POST', '/credit/revoke', {orderId: 'SO-1', amount: 0})
    assert.deepEqual([revoke.status, revoke.json.accepted, revoke.json.credit], [202, true, 'revoked'])
    assert.equal(revoke.json.eventId, published.at(-1)?.envelope.eventId)
    assert.equal(published.at(-1)?.envelope.type, 'sales.credit.revoked')
    assert.equal(lastPayload().amount, 4000, "the order's amount, not the body's")
    assert.equal((await call('POST', '/credit/revoke', {orderId: 'SO-1'})).status, 409)

    const reapply = await call('POST', '/credit/reapply', {orderId: 'SO-1', customerId: 'C', amount: 300})
    assert.deepEqual([reapply.status, reapply.json.credit], [202, 'requested'])
    assert.equal(published.at(-1)?.envelope.type, 'sales.credit.requested')
    assert.equal(lastPayload().amount, 300)
    const pending = await call('POST', '/credit/revoke', {orderId: 'SO-1'})
    assert.deepEqual([pending.status, pending.json.status], [409, 'requested'])
    const view = await call('GET', '/credit/orders/SO-1')
    assert.deepEqual(
      [view.status, view.json.status, view.json.amount, view.json.version],
      [200, 'requested', 300, 4],
    )
  })

  it('answers bad bodies with 400 naming the field, before looking the order up', async () => {
    for (const [route, body, field] of [
      ['/credit/reapply', {orderId: 'SO-1', amount: '5'}, 'amount'],
      ['/credit/reapply', {amount: 5}, 'orderId'],
      ['/credit/revoke', {orderId: ''}, 'orderId'],
      ['/credit/revoke', {orderId: 'SO-NONE', amount: -1}, 'amount'],
      ['/credit/override', {orderId: 'SO-NONE', amount: 1}, 'approver'],
    ] as const) {
      const answer = await call('POST', route, body)
      assert.deepEqual(
        [answer.status, answer.json.error, answer.json.field],
        [400, 'validation_failed', field],
        route,
      )
    }
  })

  it('refuses a second action on an order while the first is being published', async () => {
    recordDecision(store.state, {orderId: 'SO-2', amount: 1}, 'approved', 'ok', at)
    let release!: () => void
    hold = new Promise((resolve) => (release = resolve))
    const first = call('POST', '/credit/revoke', {orderId: 'SO-2'})
    await new Promise((resolve) => setTimeout(resolve, 50))
    const second = await call('POST', '/credit/revoke', {orderId: 'SO-2'})
    assert.deepEqual([second.status, second.json.error], [409, 'action_in_progress'])
    release()
    hold = undefined
    assert.equal((await first).status, 202)
  })
})

let clock = 0
function entry(type: string, payload: Record<string, unknown>, idempotencyKey?: string): JournalEntry {
  const event = makeEnvelope({type, key: String(payload.orderId), payload, idempotencyKey}) as Envelope
  event.occurredAt = new Date(Date.parse('2026-01-01T00:00:00Z') + ++clock * 1000).toISOString()
  return {event, projectedAt: event.occurredAt}
}

describe('fi order status', () => {
  it('shows a rejected order on hold whichever of the two events is applied first', () => {
    const confirmed = entry(orderEvents.orderConfirmed, {orderId: 'SO-H', amount: 5000, projectId: 'P'})
    const rejected = entry(orderEvents.creditRejected, {orderId: 'SO-H', amount: 5000})
    const onhold = entry(orderEvents.creditOnHold, {orderId: 'SO-H', amount: 5000})
    // credit publishes them back to back: within one millisecond they are equally old.
    onhold.event.occurredAt = rejected.event.occurredAt
    for (const entries of [
      [confirmed, rejected, onhold],
      [confirmed, onhold, rejected],
    ]) {
      const status = FiReadModel.replay(entries).orderStatus('SO-H')
      assert.deepEqual([status.credit, status.onhold, status.budgetAllocated], ['rejected', true, false])
    }
  })

  it('allocates the budget once, on the approval of an order with a project, with its amount; a revocation keeps it', () => {
    const model = new FiReadModel()
    model.apply(
      entry(orderEvents.orderConfirmed, {orderId: 'SO-B', amount: 5000, customerId: 'C', projectId: 'P'}),
    )
    model.apply(entry(orderEvents.creditRejected, {orderId: 'SO-B', amount: 5000}))
    model.apply(entry(orderEvents.creditOnHold, {orderId: 'SO-B', amount: 5000}))
    const override = entry(orderEvents.creditOverrideApproved, {orderId: 'SO-B', amount: 4000, approver: 'm'})
    assert.deepEqual(model.budgetAllocatedBy(override.event, override.projectedAt), {
      orderId: 'SO-B',
      projectId: 'P',
      amount: 4000,
      customerId: 'C',
    })
    assert.equal(model.orderStatus('SO-B').budgetAllocated, false, 'budgetAllocatedBy changes nothing')
    model.apply(override)
    const approved = model.orderStatus('SO-B')
    assert.deepEqual(
      [approved.credit, approved.onhold, approved.override, approved.approver, approved.amount],
      ['approved', false, true, 'm', 4000],
    )
    assert.deepEqual([approved.budgetAllocated, approved.budgetAmount], [true, 4000])
    const revoke = entry(orderEvents.creditRevoked, {orderId: 'SO-B', amount: 0})
    assert.equal(model.budgetAllocatedBy(revoke.event, revoke.projectedAt), undefined)
    model.apply(revoke)
    const revoked = model.orderStatus('SO-B')
    assert.deepEqual([revoked.credit, revoked.budgetAllocated, revoked.amount], ['revoked', true, 4000])
    assert.equal(revoked.revokedAt, revoke.event.occurredAt)
    const again = entry(orderEvents.creditApproved, {orderId: 'SO-B', amount: 300})
    assert.equal(model.budgetAllocatedBy(again.event, again.projectedAt), undefined, 'once per order')
    model.apply(again)
    assert.equal(model.orderStatus('SO-B').revokedAt, undefined, 'no longer revoked')
    assert.deepEqual(
      [model.orderStatus('SO-B').credit, model.orderStatus('SO-B').budgetAmount],
      ['approved', 4000],
    )
  })

  it('allocates no budget for an order without a project, nor for a duplicate', () => {
    const model = new FiReadModel()
    model.apply(entry(orderEvents.orderConfirmed, {orderId: 'SO-N', amount: 5}))
    const approved = entry(orderEvents.creditApproved, {orderId: 'SO-N', amount: 5})
    assert.equal(model.budgetAllocatedBy(approved.event, approved.projectedAt), undefined)
    model.apply(approved)
    assert.equal(model.orderStatus('SO-N').budgetAllocated, false)
    // The project may come with the decision (credit knows it from the confirmation).
    const withProject = entry(orderEvents.creditApproved, {orderId: 'SO-M', amount: 5, projectId: 'P'})
    assert.ok(model.budgetAllocatedBy(withProject.event, withProject.projectedAt))
    model.apply(withProject)
    assert.equal(model.budgetAllocatedBy(withProject.event, withProject.projectedAt), undefined)
  })

  it('ignores a revocation republished under the same idempotency key, even when newer, and an older decision', () => {
    const model = new FiReadModel()
    const revoke = entry(orderEvents.creditRevoked, {orderId: 'SO-K'}, 'credit-revoke:SO-K:1')
    model.apply(revoke)
    model.apply(entry(orderEvents.creditApproved, {orderId: 'SO-K', amount: 1}))
    const republished = entry(orderEvents.creditRevoked, {orderId: 'SO-K'}, 'credit-revoke:SO-K:1')
    assert.equal(model.apply(republished), false)
    assert.equal(model.orderStatus('SO-K').credit, 'approved')
    const view = model.orderStatus('SO-K')
    assert.equal(nextOrderView(view, revoke.event, revoke.projectedAt), view, 'older than the approval')
  })

  it('replays the journal to the same statuses', () => {
    const entries = [
      entry(orderEvents.orderConfirmed, {orderId: 'SO-J', amount: 7, projectId: 'P'}),
      entry(orderEvents.creditApproved, {orderId: 'SO-J', amount: 7}),
      entry(orderEvents.creditRevoked, {orderId: 'SO-J'}),
    ]
    const model = FiReadModel.replay(entries)
    assert.deepEqual(FiReadModel.replay(entries).orderStatus('SO-J'), model.orderStatus('SO-J'))
    assert.equal(model.orderStatus('SO-J').credit, 'revoked')
  })
})

describe('KeyedSerial', () => {
  it('runs one key in call order, other keys alongside, and goes on after a failure', async () => {
    const serial = new KeyedSerial()
    const log: string[] = []
    const task =
      (name: string, ms: number, fail = false) =>
      async () => {
        log.push(`start ${name}`)
        await new Promise((resolve) => setTimeout(resolve, ms))
        log.push(`end ${name}`)
        if (fail) throw new Error(name)
        return name
      }
    const a1 = serial.run('a', task('a1', 30, true))
    const a2 = serial.run('a', task('a2', 1))
    const b1 = serial.run('b', task('b1', 1))
    await assert.rejects(a1, /a1/)
    assert.deepEqual(await Promise.all([a2, b1]), ['a2', 'b1'])
    assert.deepEqual(log.slice(0, 4), ['start a1', 'start b1', 'end b1', 'end a1'])
    assert.deepEqual(log.slice(4), ['start a2', 'end a2'])
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(serial.size, 0)
  })
})
