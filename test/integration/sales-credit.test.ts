import assert from 'node:assert/strict'
import {randomUUID} from 'node:crypto'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import amqp, {type Channel, type ChannelModel} from 'amqplib'
import {type Envelope, messageHeaders} from '../../src/contract/envelope.js'
import {orderEvents} from '../../src/contract/orders.js'
import type {StatusResult, UpResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, runPoc, testPortOffsets, upStack} from '../helpers.js'

/** Issue 17: the seed's credit flow (onhold, override, revoke, reapply, budget) over sales, credit and fi. */
const offset = testPortOffsets.salesCredit
const url = {
  fi: `http://127.0.0.1:${3002 + offset}`,
  sales: `http://127.0.0.1:${3003 + offset}`,
  credit: `http://127.0.0.1:${3004 + offset}`,
}
type Service = keyof typeof url
const amqpUrl = `amqp://guest:guest@127.0.0.1:${5672 + offset}`
const managementUrl = `http://127.0.0.1:${15672 + offset}`
const limit = 1_000_000

async function call(service: Service, method: string, route: string, body?: unknown) {
  const response = await fetch(`${url[service]}${route}`, {
    method,
    headers: body === undefined ? {} : {'content-type': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return {status: response.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown>}
}

async function management<T>(resource: string): Promise<T> {
  const response = await fetch(`${managementUrl}/api/${resource}`, {
    headers: {authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`},
  })
  assert.equal(response.status, 200, `GET /api/${resource}`)
  return (await response.json()) as T
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    assert.ok(Date.now() < deadline, `waited ${timeoutMs} ms for ${what}`)
    await delay(100)
  }
}

/** What one event on `domain` looked like, as any consumer sees it. */
interface Seen {
  type: string
  appId: string | undefined
  envelope: Envelope
}

describe(
  'sales → credit → fi: onhold, override, revoke, reapply, budget (real stack)',
  {timeout: 300_000},
  () => {
    const home = makeHome('sales-credit')
    const run = Date.now().toString(36)
    const over = `SO-OVER-${run}`
    const under = `SO-UNDER-${run}`
    const project = `PRJ-${run}`
    let connection: ChannelModel
    let channel: Channel
    const seen: Seen[] = []
    const eventsOf = (orderId: string, type?: string) =>
      seen.filter((s) => s.envelope.key === orderId && (type === undefined || s.type === type))

    /** Our queue may see an event a moment after fi does. */
    const tapHas = (orderId: string, type: string, count = 1) =>
      waitFor(`${count} ${type} of ${orderId} on domain`, async () =>
        eventsOf(orderId, type).length >= count ? eventsOf(orderId, type) : undefined,
      )
    const status = async (orderId: string) => (await call('fi', 'GET', `/orders/${orderId}/status`)).json
    const fiUntil = (orderId: string, what: string, test: (s: Record<string, unknown>) => boolean) =>
      waitFor(`${orderId}: ${what} in fi`, async () => {
        const s = await status(orderId)
        return test(s) ? s : undefined
      })

    before(async () => {
      const up = await upStack(home, offset, 'sales,credit,fi')
      assert.deepEqual(up.components.map((c) => c.name).sort(), [
        'credit',
        'fi',
        'rabbitmq',
        'redis',
        'sales',
      ])
      connection = await amqp.connect(amqpUrl)
      channel = await connection.createChannel()
      // Our own queue on `domain`: it sees every event of the flow, with its publisher (appId).
      const {queue} = await channel.assertQueue('', {exclusive: true, autoDelete: true})
      for (const key of ['sales.#', orderEvents.budgetAllocated])
        await channel.bindQueue(queue, 'domain', key)
      await channel.consume(
        queue,
        (message) => {
          if (!message) return
          const envelope = JSON.parse(message.content.toString()) as Envelope
          seen.push({type: message.fields.routingKey, appId: message.properties.appId as string, envelope})
        },
        {noAck: true},
      )
    })

    after(async () => {
      await connection?.close().catch(() => undefined)
      await cleanup(home)
    })

    it('binds fi.inbox and credit.inbox on domain to the events each consumes, each with its dead-letter queue', async () => {
      const bindings = (
        await management<Array<{destination: string; routing_key: string}>>(
          'exchanges/%2F/domain/bindings/source',
        )
      )
        .filter((b) => b.destination.endsWith('.inbox'))
        .map((b) => `${b.destination} <- ${b.routing_key}`)
        .sort()
      assert.deepEqual(bindings, [
        'credit.inbox <- sales.credit.requested',
        'credit.inbox <- sales.order.confirmed',
        'fi.inbox <- fi.invoice.generated',
        'fi.inbox <- sales.credit.approved',
        'fi.inbox <- sales.credit.onhold',
        'fi.inbox <- sales.credit.override.approved',
        'fi.inbox <- sales.credit.rejected',
        'fi.inbox <- sales.credit.revoked',
        'fi.inbox <- sales.order.confirmed',
      ])
      for (const inbox of ['fi.inbox', 'credit.inbox']) {
        const queue = await management<{arguments: Record<string, unknown>}>(`queues/%2F/${inbox}`)
        assert.equal(queue.arguments['x-dead-letter-routing-key'], `${inbox}.dead`)
        await management(`queues/%2F/${inbox}.dead`)
      }
    })

    it('over the limit: rejected and on hold; an override approves it and fi allocates its budget once, with the amount', async () => {
      const confirmed = await call('sales', 'POST', '/sales/orders/confirm', {
        orderId: over,
        customerId: 'C-1',
        amount: 5_000_000,
        projectId: project,
      })
      assert.deepEqual([confirmed.status, confirmed.json.accepted], [202, true])
      const held = await fiUntil(over, 'on hold', (s) => s.onhold === true)
      assert.deepEqual([held.credit, held.budgetAllocated, held.amount], ['rejected', false, 5_000_000])
      assert.equal((await call('credit', 'GET', `/credit/orders/${over}`)).json.status, 'onhold')
      await tapHas(over, orderEvents.creditOnHold)
      assert.deepEqual(
        eventsOf(over).map((s) => [s.type, s.appId]),
        [
          ['sales.order.confirmed', 'sales'],
          ['sales.credit.rejected', 'credit'],
          ['sales.credit.onhold', 'credit'],
        ],
      )

      const override = await call('credit', 'POST', '/credit/override', {
        orderId: over,
        amount: 4_000_000,
        approver: 'manager',
      })
      assert.equal(override.status, 200, JSON.stringify(override.json))
      assert.deepEqual([override.json.credit, override.json.accepted], ['approved', true])
      const approved = await fiUntil(over, 'approved', (s) => s.credit === 'approved')
      assert.deepEqual(
        [approved.onhold, approved.override, approved.approver, approved.amount],
        [false, true, 'manager', 4_000_000],
      )
      assert.deepEqual([approved.budgetAllocated, approved.budgetAmount], [true, 4_000_000])
      const [budget] = (await tapHas(over, orderEvents.budgetAllocated)) as [Seen]
      assert.equal(budget.appId, 'fi')
      assert.deepEqual(budget.envelope.payload, {
        orderId: over,
        projectId: project,
        amount: 4_000_000,
        customerId: 'C-1',
      })
      const overrideEvent = eventsOf(over, orderEvents.creditOverrideApproved)
      assert.deepEqual(
        overrideEvent.map((s) => [s.appId, s.envelope.eventId]),
        [['credit', override.json.eventId]],
      )
    })

    it('revoke → revoked in fi, a second revoke is 409; reapply → decided again; the budget is not allocated twice', async () => {
      const revoke = await call('credit', 'POST', '/credit/revoke', {orderId: over, customerId: 'C-1'})
      assert.deepEqual([revoke.status, revoke.json.accepted, revoke.json.credit], [202, true, 'revoked'])
      assert.equal(typeof revoke.json.shard, 'number')
      const revoked = await fiUntil(over, 'revoked', (s) => s.credit === 'revoked')
      assert.equal(revoked.budgetAllocated, true, 'a revocation does not take the allocation back')
      const again = await call('credit', 'POST', '/credit/revoke', {orderId: over})
      assert.deepEqual([again.status, again.json.error], [409, 'action_not_allowed'])

      // Still over the limit: rejected and on hold again.
      const reapply = await call('credit', 'POST', '/credit/reapply', {
        orderId: over,
        customerId: 'C-1',
        amount: 2_000_000,
      })
      assert.deepEqual([reapply.status, reapply.json.credit], [202, 'requested'])
      const held = await fiUntil(over, 'on hold again', (s) => s.onhold === true)
      assert.deepEqual([held.credit, held.amount], ['rejected', 2_000_000])
      // Within it: approved.
      const lower = await call('credit', 'POST', '/credit/reapply', {orderId: over, amount: 300_000})
      assert.equal(lower.status, 202, JSON.stringify(lower.json))
      const approved = await fiUntil(over, 'approved again', (s) => s.credit === 'approved')
      assert.deepEqual([approved.amount, approved.onhold, approved.revokedAt], [300_000, false, undefined])
      assert.equal((await call('credit', 'GET', `/credit/orders/${over}`)).json.status, 'approved')
      await tapHas(over, orderEvents.creditApproved)
      assert.deepEqual(
        eventsOf(over)
          .slice(-6)
          .map((s) => [s.type, s.appId]),
        [
          ['sales.credit.revoked', 'credit'],
          ['sales.credit.requested', 'credit'],
          ['sales.credit.rejected', 'credit'],
          ['sales.credit.onhold', 'credit'],
          ['sales.credit.requested', 'credit'],
          ['sales.credit.approved', 'credit'],
        ],
      )
      assert.equal(eventsOf(over, orderEvents.budgetAllocated).length, 1)
    })

    it('under the limit: approved with its budget at once; 409 for what its state forbids, 404 for an unknown order, 400 for bad input', async () => {
      await call('sales', 'POST', '/sales/orders/confirm', {
        orderId: under,
        customerId: 'C-2',
        amount: limit,
        projectId: project,
      })
      const approved = await fiUntil(under, 'approved', (s) => s.credit === 'approved')
      assert.deepEqual(
        [approved.budgetAllocated, approved.budgetAmount, approved.onhold],
        [true, limit, false],
      )
      await tapHas(under, orderEvents.budgetAllocated)
      assert.deepEqual(
        eventsOf(under).map((s) => s.type),
        ['sales.order.confirmed', 'sales.credit.approved', 'fi.budget.allocated'],
      )
      for (const [route, body] of [
        ['/credit/override', {orderId: under, amount: 1, approver: 'm'}],
        ['/credit/reapply', {orderId: under}],
      ] as const) {
        const answer = await call('credit', 'POST', route, body)
        assert.deepEqual(
          [answer.status, answer.json.error, answer.json.status],
          [409, 'action_not_allowed', 'approved'],
        )
      }
      for (const route of ['/credit/override', '/credit/reapply', '/credit/revoke']) {
        const unknown = await call('credit', 'POST', route, {orderId: 'SO-NEVER', amount: 1, approver: 'm'})
        assert.deepEqual([unknown.status, unknown.json.error], [404, 'order_not_found'], route)
        const bad = await call('credit', 'POST', route, {orderId: under, amount: 'lots', approver: 'm'})
        assert.deepEqual(
          [bad.status, bad.json.error, bad.json.field],
          [400, 'validation_failed', 'amount'],
          route,
        )
      }
      assert.equal((await call('credit', 'GET', '/credit/orders/SO-NEVER')).status, 404)
      assert.equal((await status('SO-NEVER')).credit, 'unknown')
    })

    it('a republished event (same idempotency key, new id, newer time) changes nothing: fi and credit take it once', async () => {
      const republish = async (original: Seen) => {
        const copy: Envelope = {
          ...original.envelope,
          eventId: randomUUID(),
          occurredAt: new Date().toISOString(),
        }
        channel.publish('domain', original.type, Buffer.from(JSON.stringify(copy)), {
          persistent: true,
          messageId: copy.eventId,
          contentType: 'application/json',
          headers: messageHeaders(copy),
        })
      }
      const fiDuplicates = async () => Number((await call('fi', 'GET', '/health')).json.duplicatesSkipped)
      const before = await status(over)
      const duplicatesBefore = await fiDuplicates()
      // Applied again, this revocation would be the newest decision and revoke the order.
      const revocation = eventsOf(over, orderEvents.creditRevoked)[0] as Seen
      await republish(revocation)
      await waitFor('fi to skip the copy', async () =>
        (await fiDuplicates()) > duplicatesBefore ? true : undefined,
      )
      assert.deepEqual(await status(over), before)

      // Decided again, this confirmation would publish a second decision for the order.
      const confirmation = eventsOf(under, orderEvents.orderConfirmed)[0] as Seen
      await republish(confirmation)
      // credit.inbox is one queue taken in order: once a later order is decided, the copy was handled.
      const marker = `SO-MARK-${run}`
      await call('sales', 'POST', '/sales/orders/confirm', {orderId: marker, customerId: 'C', amount: 1})
      await waitFor('the marker decided', async () => eventsOf(marker, orderEvents.creditApproved).at(0))
      assert.equal(eventsOf(under, orderEvents.creditApproved).length, 1)
    })

    it('kill -9 of fi and credit, then poc up: the statuses and the states are the same, and nothing is published again', async () => {
      const statuses = {over: await status(over), under: await status(under)}
      const credits = {
        over: (await call('credit', 'GET', `/credit/orders/${over}`)).json,
        under: (await call('credit', 'GET', `/credit/orders/${under}`)).json,
      }
      const published = seen.length
      const running = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
      for (const name of ['fi', 'credit']) {
        const pid = running.components.find((c) => c.name === name)?.pids[0]
        assert.ok(pid, `${name}'s pid`)
        process.kill(pid, 'SIGKILL')
      }
      const up = await runPoc(home, ['up', '--only', 'fi,credit', '--json'])
      assert.equal(up.exitCode, 0, up.stdout + up.stderr)
      const actions = Object.fromEntries(parseJson<UpResult>(up).components.map((c) => [c.name, c.action]))
      assert.deepEqual([actions.fi, actions.credit], ['restarted', 'restarted'])
      assert.deepEqual({over: await status(over), under: await status(under)}, statuses)
      assert.deepEqual(
        {
          over: (await call('credit', 'GET', `/credit/orders/${over}`)).json,
          under: (await call('credit', 'GET', `/credit/orders/${under}`)).json,
        },
        credits,
      )
      // The restarted credit still knows what it allows.
      assert.equal((await call('credit', 'POST', '/credit/reapply', {orderId: under})).status, 409)
      const revoke = await call('credit', 'POST', '/credit/revoke', {orderId: under})
      assert.equal(revoke.status, 202, JSON.stringify(revoke.json))
      await fiUntil(under, 'revoked after the restart', (s) => s.credit === 'revoked')
      await tapHas(under, orderEvents.creditRevoked)
      await delay(500)
      assert.deepEqual(
        seen.slice(published).map((s) => s.type),
        ['sales.credit.revoked'],
        'a replayed journal announces no budget again',
      )
    })
  },
)
