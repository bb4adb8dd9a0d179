import assert from 'node:assert/strict'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import amqp from 'amqplib'
import {Bus, coalesceWrites, type Delivery, type Handler} from '../../src/services/shared/bus.js'
import {deadLetterQueue, exchanges, shardQueue} from '../../src/contract/topology.js'
import {makeEnvelope, type Envelope} from '../../src/contract/envelope.js'
import {createRedis, Idempotency} from '../../src/services/shared/idempotency.js'
import {createLogger} from '../../src/services/shared/logger.js'
import {shardOf} from '../../src/contract/shard.js'
import type {StatusResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.bus
const amqpUrl = `amqp://guest:guest@127.0.0.1:${5672 + offset}`
const managementUrl = `http://127.0.0.1:${15672 + offset}`
const redisUrl = `redis://127.0.0.1:${6379 + offset}`
const numShards = 4
const logger = createLogger('bus-test', process.env.LOG_LEVEL ?? 'silent')
const inbox = 'bus-test.inbox'

interface Received {
  envelope: Envelope
  delivery: Delivery
}

/** Polls until `check` returns a value; the error says what was awaited and for how long. */
async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(50)
  }
}

async function management<T>(resource: string): Promise<T> {
  const response = await fetch(`${managementUrl}/api/${resource}`, {
    headers: {authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`},
  })
  assert.equal(response.status, 200, `GET /api/${resource}`)
  return (await response.json()) as T
}

/** Takes the message with this id out of a queue (other messages go back), within a bounded wait. */
async function takeFromQueue(queue: string, messageId: string): Promise<amqp.GetMessage> {
  const connection = await amqp.connect(amqpUrl)
  const channel = await connection.createChannel()
  const others: amqp.GetMessage[] = []
  try {
    const deadline = Date.now() + 20_000
    for (;;) {
      const message = await channel.get(queue, {noAck: false})
      if (message && message.properties.messageId === messageId) {
        channel.ack(message)
        return message
      }
      // Held unacknowledged until the end, or get would hand the same one back again.
      if (message) others.push(message)
      else if (Date.now() > deadline) throw new Error(`no message ${messageId} in ${queue} after 20 s`)
      else await delay(100)
    }
  } finally {
    for (const other of others) channel.nack(other, false, true)
    // Closing the channel first flushes its ack; a connection close could overtake it.
    await channel.close()
    await connection.close()
  }
}

function events(
  key: string,
  count: number,
  extra: Record<string, unknown> = {},
): Envelope<Record<string, unknown>>[] {
  return Array.from({length: count}, (_, n) =>
    makeEnvelope({type: 'pm.timesheet.approved', key, payload: {timesheetId: key, n, ...extra}}),
  )
}

describe('Bus and Idempotency with real RabbitMQ and Redis', {timeout: 300_000}, () => {
  const home = makeHome('bus')
  const received = new Map<string, Received[]>()
  const receivedFor = (key: string) => received.get(key) ?? []
  let producer: Bus | undefined
  let worker: Bus | undefined

  // The worker's one handler, steered by the payload of each test's events.
  const handler: Handler = async (envelope, delivery) => {
    received.set(envelope.key, [...receivedFor(envelope.key), {envelope, delivery}])
    if (envelope.payload.behaviour === 'dead') return 'dead'
    if (envelope.payload.behaviour === 'fail-once' && !delivery.redelivered)
      throw new Error('deliberate failure')
    return 'ack'
  }

  const busOptions = (service: string) => ({
    url: amqpUrl,
    numShards,
    outboxFile: path.join(home, 'data', service, 'outbox.jsonl'),
    logger,
    service,
  })

  before(async () => {
    await upStack(home, offset, 'rabbitmq,redis')
    producer = new Bus(busOptions('bus-test-producer'))
    worker = new Bus(busOptions('bus-test-worker'))
    await producer.start()
    await worker.start()
    assert.deepEqual(producer.status(), {
      connected: true,
      outboxDepth: 0,
      consumers: [],
      consumersActive: true,
    })
    for (let shard = 0; shard < numShards; shard++) await worker.consume(shardQueue(shard), handler)
    await worker.declareInbox(inbox, ['sales.order.*'])
    await worker.consume(inbox, handler)
  })

  after(async () => {
    await producer?.close()
    await worker?.close()
    await cleanup(home)
  })

  it('declares the topology of SPEC §3', {timeout: 30_000}, async () => {
    const queues =
      await management<Array<{name: string; durable: boolean; arguments: Record<string, unknown>}>>(
        'queues/%2F',
      )
    const byName = new Map(queues.map((q) => [q.name, q]))
    for (let shard = 0; shard < numShards; shard++) {
      const queue = byName.get(`shard.${shard}`)
      assert.ok(queue, `queue shard.${shard} missing; have ${[...byName.keys()].join(', ')}`)
      assert.equal(queue.durable, true)
      assert.deepEqual(queue.arguments, {
        'x-dead-letter-exchange': 'dlx',
        'x-dead-letter-routing-key': `shard.${shard}.dead`,
      })
      assert.equal(byName.get(`shard.${shard}.dead`)?.durable, true, `queue shard.${shard}.dead`)
    }
    assert.deepEqual(byName.get(inbox)?.arguments, {
      'x-dead-letter-exchange': 'dlx',
      'x-dead-letter-routing-key': `${inbox}.dead`,
    })
    assert.equal(byName.get(`${inbox}.dead`)?.durable, true)

    for (const [name, type] of [
      ['events', 'direct'],
      ['dlx', 'direct'],
      ['domain', 'topic'],
    ] as const) {
      const exchange = await management<{type: string; durable: boolean}>(`exchanges/%2F/${name}`)
      assert.deepEqual([exchange.type, exchange.durable], [type, true], `exchange ${name}`)
    }
    const bindings = async (exchange: string) =>
      (
        await management<Array<{destination: string; routing_key: string}>>(
          `exchanges/%2F/${exchange}/bindings/source`,
        )
      )
        .map((b) => `${b.routing_key} -> ${b.destination}`)
        .sort()
    assert.deepEqual(await bindings('events'), [
      'shard.0 -> shard.0',
      'shard.1 -> shard.1',
      'shard.2 -> shard.2',
      'shard.3 -> shard.3',
    ])
    const dlx = await bindings('dlx')
    for (let shard = 0; shard < numShards; shard++)
      assert.ok(dlx.includes(`shard.${shard}.dead -> shard.${shard}.dead`))
    assert.ok(dlx.includes(`${inbox}.dead -> ${inbox}.dead`), dlx.join('; '))
    assert.deepEqual(await bindings('domain'), [`sales.order.* -> ${inbox}`])
  })

  it(
    'delivers a sharded event with its headers, and 20 events of one key in publish order',
    {timeout: 60_000},
    async () => {
      const key = `TS-order-${Date.now()}`
      const shard = shardOf(key, numShards)
      const published = events(key, 20)
      const results = await Promise.all(published.map((envelope) => producer!.publishToShard(envelope)))
      assert.deepEqual(
        results,
        published.map((envelope) => ({eventId: envelope.eventId, status: 'confirmed', shard})),
      )
      const got = await waitFor('20 events on the worker', () => {
        const list = receivedFor(key)
        return list.length >= 20 ? list : undefined
      })
      assert.deepEqual(
        got.map((r) => r.envelope),
        published,
      )
      const [first] = got
      assert.deepEqual(first?.delivery, {
        queue: `shard.${shard}`,
        routingKey: `shard.${shard}`,
        redelivered: false,
        messageId: published[0]?.eventId,
        contentType: 'application/json',
        persistent: true,
        headers: {idempotencyKey: published[0]?.idempotencyKey, type: 'pm.timesheet.approved'},
        format: 'envelope',
      })
      assert.equal(producer!.status().outboxDepth, 0)
    },
  )

  it(
    'dead-letters what the handler rejects, and what is not an envelope, into shard.{i}.dead',
    {timeout: 60_000},
    async () => {
      const key = `TS-dead-${Date.now()}`
      const shard = shardOf(key, numShards)
      const [envelope] = events(key, 1, {behaviour: 'dead'}) as [Envelope]
      assert.equal((await producer!.publishToShard(envelope)).status, 'confirmed')
      const dead = await takeFromQueue(deadLetterQueue(shardQueue(shard)), envelope.eventId)
      assert.deepEqual(JSON.parse(dead.content.toString()), envelope)
      const [death] = dead.properties.headers?.['x-death'] as Array<{queue: string; reason: string}>
      assert.deepEqual([death?.queue, death?.reason], [`shard.${shard}`, 'rejected'])
      assert.equal(receivedFor(key).length, 1)

      // Not through the bus: the bus never publishes anything but envelopes.
      const connection = await amqp.connect(amqpUrl)
      try {
        const channel = await connection.createConfirmChannel()
        const messageId = `garbage-${Date.now()}`
        channel.publish(exchanges.events, shardQueue(shard), Buffer.from('{"not": "an envelope"'), {
          messageId,
          persistent: true,
        })
        await channel.waitForConfirms()
        const garbage = await takeFromQueue(deadLetterQueue(shardQueue(shard)), messageId)
        assert.equal(garbage.content.toString(), '{"not": "an envelope"')
      } finally {
        await connection.close()
      }
    },
  )

  it('redelivers a message whose handler threw', {timeout: 60_000}, async () => {
    const key = `TS-retry-${Date.now()}`
    const [envelope] = events(key, 1, {behaviour: 'fail-once'}) as [Envelope]
    await producer!.publishToShard(envelope)
    const got = await waitFor('the redelivery', () => {
      const list = receivedFor(key)
      return list.length >= 2 ? list : undefined
    })
    assert.deepEqual(
      got.map((r) => [r.envelope.eventId, r.delivery.redelivered]),
      [
        [envelope.eventId, false],
        [envelope.eventId, true],
      ],
    )
  })

  it('routes domain events to a declared inbox by pattern', {timeout: 60_000}, async () => {
    const key = `SO-${Date.now()}`
    const confirmed = makeEnvelope({type: 'sales.order.confirmed', key, payload: {orderId: key}})
    const other = makeEnvelope({type: 'sales.credit.approved', key, payload: {orderId: key}})
    await producer!.publish({exchange: exchanges.domain, routingKey: other.type, envelope: other})
    await producer!.publish({exchange: exchanges.domain, routingKey: confirmed.type, envelope: confirmed})
    const [got] = await waitFor('the inbox delivery', () =>
      receivedFor(key).length > 0 ? receivedFor(key) : undefined,
    )
    assert.equal(got?.delivery.queue, inbox)
    assert.deepEqual(got?.envelope, confirmed)
    await delay(500)
    assert.equal(receivedFor(key).length, 1, 'sales.credit.approved does not match sales.order.*')
  })

  it(
    'keeps what is published while RabbitMQ is down and delivers all of it once it is back',
    {timeout: 180_000},
    async () => {
      const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
      const server = status.components.find((c) => c.name === 'rabbitmq')?.pids.at(-1)
      assert.ok(server, 'no rabbitmq server pid in poc status')
      // The last pid is the broker itself (beam.smp, read from its pid file once it was ready).
      process.kill(server, 'SIGKILL')
      await waitFor('both buses to see the broker gone', () =>
        producer!.status().connected || worker!.status().connected ? undefined : true,
      )

      const key = `TS-outage-${Date.now()}`
      const published = events(key, 10)
      const results = await Promise.all(published.map((envelope) => producer!.publishToShard(envelope)))
      assert.deepEqual(
        results.map((r) => r.status),
        published.map(() => 'queued'),
      )
      assert.equal(producer!.status().outboxDepth, 10)

      const run = await runPoc(home, ['up', '--only', 'rabbitmq,redis'])
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      const got = await waitFor(
        'the 10 queued events after the restart',
        () => {
          const list = receivedFor(key)
          return new Set(list.map((r) => r.envelope.eventId)).size >= 10 ? list : undefined
        },
        60_000,
      )
      assert.deepEqual(
        [...new Set(got.map((r) => r.envelope.payload.n))],
        published.map((e) => e.payload.n),
      )
      await waitFor('the outbox to drain', () => (producer!.status().outboxDepth === 0 ? true : undefined))
      assert.equal(producer!.status().connected, true)
    },
  )

  it(
    'sends a burst of publishes in a few socket writes once coalesced, one write each without',
    {timeout: 30_000},
    async () => {
      /** Socket writes (each one syscall) while 50 persistent messages are published in one tick and confirmed. */
      const writesFor = async (coalesced: boolean): Promise<number> => {
        const model = await amqp.connect(amqpUrl)
        try {
          if (coalesced)
            assert.equal(coalesceWrites(model), true, "amqplib's internals are what coalesceWrites expects")
          const socket = (
            model as unknown as {connection: {stream: {_writeGeneric: (...args: unknown[]) => unknown}}}
          ).connection.stream
          const channel = await model.createConfirmChannel()
          const queue = `bus-test.coalesce.${coalesced}.${process.pid}`
          await channel.assertQueue(queue, {durable: false, autoDelete: false})
          let writes = 0
          const write = socket._writeGeneric
          socket._writeGeneric = function (this: unknown, ...args: unknown[]) {
            writes++
            return write.apply(this, args)
          }
          for (let i = 0; i < 50; i++) channel.publish('', queue, Buffer.from(`m${i}`), {persistent: true})
          await channel.waitForConfirms()
          socket._writeGeneric = write
          await channel.deleteQueue(queue)
          return writes
        } finally {
          await model.close()
        }
      }
      const plain = await writesFor(false)
      const coalesced = await writesFor(true)
      assert.ok(plain >= 50, `${plain} writes without coalescing`)
      assert.ok(coalesced <= 5, `${coalesced} writes coalesced`)
    },
  )

  it('remembers an idempotency key in Redis as idemp:{key} with a TTL', {timeout: 30_000}, async () => {
    const redis = createRedis(redisUrl, logger)
    try {
      const ttlMs = 60_000
      const idempotency = new Idempotency(redis, ttlMs)
      const key = `bus-test-${Date.now()}`
      assert.equal(await idempotency.seen(key), false)
      await idempotency.remember(key)
      assert.equal(await idempotency.seen(key), true)
      const pttl = await redis.pttl(`idemp:${key}`)
      assert.ok(pttl > 0 && pttl <= ttlMs, `PTTL ${pttl}`)
      assert.equal(await idempotency.seen(`${key}-other`), false)
    } finally {
      await redis.quit()
    }
  })
})
