import assert from 'node:assert/strict'
import {randomUUID} from 'node:crypto'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import amqp from 'amqplib'
import type {DlqListResult, DlqRedriveResult} from '../../src/stack/dlq.js'
import {cleanup, makeHome, parseJson, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.dlq
const amqpUrl = `amqp://guest:guest@127.0.0.1:${5672 + offset}`
const numShards = 4
const inbox = 'dlq-test.inbox'
const eventType = 'dlq.test.failed'
/** Dead letters beyond the first three: more than one batch of the redrive. */
const extra = 250

interface TestEvent {
  eventId: string
  type: string
  key: string
  idempotencyKey: string
  payload: {n: number}
}

/** SPEC §3 as the bus declares it: each queue dead-letters through `dlx` into `<queue>.dead`. */
async function declareTopology(channel: amqp.Channel): Promise<void> {
  await channel.assertExchange('events', 'direct', {durable: true})
  await channel.assertExchange('dlx', 'direct', {durable: true})
  await channel.assertExchange('domain', 'topic', {durable: true})
  const declare = async (queue: string, exchange: string, bindingKey: string) => {
    await channel.assertQueue(`${queue}.dead`, {durable: true})
    await channel.bindQueue(`${queue}.dead`, 'dlx', `${queue}.dead`)
    await channel.assertQueue(queue, {
      durable: true,
      deadLetterExchange: 'dlx',
      deadLetterRoutingKey: `${queue}.dead`,
    })
    await channel.bindQueue(queue, exchange, bindingKey)
  }
  for (let shard = 0; shard < numShards; shard++) await declare(`shard.${shard}`, 'events', `shard.${shard}`)
  await declare(inbox, 'domain', 'dlq.test.#')
}

describe('poc dlq list and redrive against a real RabbitMQ', {timeout: 300_000}, () => {
  const home = makeHome('dlq')
  let connection: amqp.ChannelModel | undefined
  let channel: amqp.ConfirmChannel | undefined
  const published: TestEvent[] = []

  const depth = async (queue: string) => (await channel!.checkQueue(queue)).messageCount

  async function waitForDepth(queue: string, expected: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let last = await depth(queue)
    while (last !== expected) {
      if (Date.now() > deadline)
        throw new Error(`${queue} holds ${last} messages after ${timeoutMs} ms, not ${expected}`)
      await delay(50)
      last = await depth(queue)
    }
  }

  function publish(exchange: string, routingKey: string, event: TestEvent): void {
    channel!.publish(exchange, routingKey, Buffer.from(JSON.stringify(event)), {
      persistent: true,
      messageId: event.eventId,
      contentType: 'application/json',
      headers: {idempotencyKey: event.idempotencyKey, type: event.type},
    })
  }

  /** Takes every message off the queue and rejects it without requeueing: into `<queue>.dead`. */
  async function rejectAll(queue: string, expected: number): Promise<void> {
    for (let n = 0; n < expected; n++) {
      const message = await channel!.get(queue, {noAck: false})
      assert.ok(message, `${queue} ran out after ${n} of ${expected} messages`)
      channel!.nack(message, false, false)
    }
  }

  function event(n: number): TestEvent {
    const eventId = randomUUID()
    return {eventId, type: eventType, key: `TS-dlq-${n}`, idempotencyKey: eventId, payload: {n}}
  }

  before(async () => {
    await upStack(home, offset, 'rabbitmq')
    connection = await amqp.connect(amqpUrl)
    channel = await connection.createConfirmChannel()
    await declareTopology(channel)

    published.push(event(1), event(2), event(3))
    for (const e of published) publish('events', 'shard.1', e)
    const inboxEvent = event(4)
    publish('domain', eventType, inboxEvent)
    await channel.waitForConfirms()
    await rejectAll('shard.1', 3)
    await rejectAll(inbox, 1)
    await waitForDepth('shard.1.dead', 3)
    await waitForDepth(`${inbox}.dead`, 1)
  })

  after(async () => {
    await connection?.close().catch(() => undefined)
    await cleanup(home)
  })

  it('lists every dead-letter queue with its depth and a sample, consuming nothing', async () => {
    const run = await runPoc(home, ['dlq', 'list', '--json'])
    assert.equal(run.exitCode, 0, run.stderr)
    const result = parseJson<DlqListResult>(run)
    assert.deepEqual(
      result.queues.map((q) => [q.queue, q.source, q.messages]),
      [
        [`${inbox}.dead`, inbox, 1],
        ['shard.0.dead', 'shard.0', 0],
        ['shard.1.dead', 'shard.1', 3],
        ['shard.2.dead', 'shard.2', 0],
        ['shard.3.dead', 'shard.3', 0],
      ],
    )
    assert.equal(result.total, 4)
    assert.deepEqual(
      result.queues.find((q) => q.queue === 'shard.1.dead')?.sample,
      published.map((e) => ({
        eventId: e.eventId,
        type: eventType,
        key: e.key,
        reason: 'rejected',
        deaths: 1,
      })),
    )
    assert.equal(await depth('shard.1.dead'), 3, 'listing must leave the dead letters where they are')
    assert.equal(await depth(`${inbox}.dead`), 1)
  })

  it('lists one shard with --shard, and at most --limit messages', async () => {
    const result = parseJson<DlqListResult>(
      await runPoc(home, ['dlq', 'list', '--shard', '1', '--limit', '2', '--json']),
    )
    assert.deepEqual(
      result.queues.map((q) => [q.queue, q.messages, q.sample.map((m) => m.eventId)]),
      [['shard.1.dead', 3, published.slice(0, 2).map((e) => e.eventId)]],
    )
    assert.equal(result.total, 3)
  })

  it('shows a table to a human', async () => {
    const run = await runPoc(home, ['dlq', 'list', '--shard', '1'])
    assert.equal(run.exitCode, 0, run.stderr)
    assert.match(run.stdout, /^QUEUE\s+SOURCE\s+MESSAGES\nshard\.1\.dead\s+shard\.1\s+3\n/)
    for (const e of published)
      assert.match(run.stdout, new RegExp(`${e.eventId}\\s+${eventType}\\s+${e.key}\\s+rejected\\s+1`))
    assert.match(run.stdout, /3 dead letter\(s\)\. Move them back with: poc dlq redrive --shard 1/)
  })

  it('redrives one shard back into its queue with the same ids, no x-death, and a redrive count', async () => {
    const run = await runPoc(home, ['dlq', 'redrive', '--shard', '1', '--json'])
    assert.equal(run.exitCode, 0, run.stderr)
    assert.deepEqual(parseJson<DlqRedriveResult>(run), {
      moved: [{queue: 'shard.1.dead', source: 'shard.1', moved: 3}],
      total: 3,
    })
    assert.equal(await depth('shard.1.dead'), 0)
    assert.equal(await depth(`${inbox}.dead`), 1, '--shard 1 leaves the inbox dead letters alone')
    assert.equal(await depth('shard.1'), 3)
    const back: amqp.GetMessage[] = []
    for (let n = 0; n < 3; n++) {
      const message = await channel!.get('shard.1', {noAck: false})
      assert.ok(message, `shard.1 ran out after ${n} messages`)
      back.push(message)
    }
    assert.deepEqual(
      back.map((m) => ({
        messageId: m.properties.messageId as unknown,
        contentType: m.properties.contentType as unknown,
        persistent: m.properties.deliveryMode === 2,
        headers: m.properties.headers,
        body: JSON.parse(m.content.toString()) as unknown,
      })),
      published.map((e) => ({
        messageId: e.eventId,
        contentType: 'application/json',
        persistent: true,
        headers: {idempotencyKey: e.idempotencyKey, type: eventType, 'x-poc-redriven': 1},
        body: e,
      })),
    )
    // Back into the queue for the next test.
    for (const message of back) channel!.nack(message, false, true)
    await waitForDepth('shard.1', 3)
  })

  it('moves exactly what was there at the start while a consumer keeps rejecting', async () => {
    // FAIL_RATE=1 in miniature: every message on shard.1 goes straight back to shard.1.dead. More
    // messages than one batch of the redrive, so it meets some that died again before it is done.
    const rejecter = await connection!.createChannel()
    await rejecter.prefetch(1)
    const {consumerTag} = await rejecter.consume('shard.1', (m) => m && rejecter.nack(m, false, false))
    try {
      for (let n = 0; n < extra; n++) publish('events', 'shard.1', event(100 + n))
      await channel!.waitForConfirms()
      await waitForDepth('shard.1.dead', 3 + extra)
      const run = await runPoc(home, ['dlq', 'redrive', '--json'])
      assert.equal(run.exitCode, 0, run.stderr)
      const result = parseJson<DlqRedriveResult>(run)
      assert.deepEqual(
        result.moved.map((r) => [r.queue, r.moved]),
        [
          [`${inbox}.dead`, 1],
          ['shard.0.dead', 0],
          ['shard.1.dead', 3 + extra],
          ['shard.2.dead', 0],
          ['shard.3.dead', 0],
        ],
      )
      assert.equal(result.total, 4 + extra)
      await waitForDepth('shard.1.dead', 3 + extra)
    } finally {
      await rejecter.cancel(consumerTag)
      await rejecter.close()
    }
    // The inbox event was redriven and waits in its queue; the shard's died once more, as new.
    assert.equal(await depth(inbox), 1)
    const listed = parseJson<DlqListResult>(await runPoc(home, ['dlq', 'list', '--shard', '1', '--json']))
    assert.deepEqual(
      listed.queues[0]?.sample.slice(0, 3).map((m) => [m.eventId, m.deaths]),
      published.map((e) => [e.eventId, 1]),
    )
  })

  it('refuses a shard out of range as a usage error (exit 2) naming the range', async () => {
    for (const args of [
      ['dlq', 'redrive', '--shard', '99'],
      ['dlq', 'redrive', '--shard=-1'],
      ['dlq', 'list', '--shard', '4'],
    ]) {
      const run = await runPoc(home, args)
      assert.equal(run.exitCode, 2, `${args.join(' ')}: ${run.stderr}`)
      assert.match(run.stderr, /--shard -?\d+ is out of range: the broker has shards 0 to 3/)
    }
    assert.equal(await depth('shard.1.dead'), 3 + extra, 'a refused redrive moves nothing')
  })

  it('leaves the dead letters of a queue that no longer exists where they are, and says why', async () => {
    await channel!.assertQueue('dlq-test.gone.dead', {durable: true})
    channel!.sendToQueue('dlq-test.gone.dead', Buffer.from('{}'), {persistent: true, messageId: 'orphan-1'})
    await channel!.waitForConfirms()
    const run = await runPoc(home, ['dlq', 'redrive', '--json'])
    assert.equal(run.exitCode, 0, run.stderr)
    const result = parseJson<DlqRedriveResult>(run)
    assert.deepEqual(
      result.moved.find((r) => r.queue === 'dlq-test.gone.dead'),
      {
        queue: 'dlq-test.gone.dead',
        source: 'dlq-test.gone',
        moved: 0,
        skipped: 'dlq-test.gone does not exist; start the service that declares it',
      },
    )
    assert.equal(await depth('dlq-test.gone.dead'), 1)
    assert.equal(result.total, 3 + extra, 'the other dead letters still move')
    assert.equal(await depth('shard.1.dead'), 0)
  })

  it('says the stack is not available (exit 3) when no RabbitMQ runs, and how to start it', async () => {
    const empty = makeHome('dlq-empty')
    try {
      for (const command of ['list', 'redrive']) {
        const run = await runPoc(empty, ['dlq', command])
        assert.equal(run.exitCode, 3, run.stderr)
        assert.match(run.stderr, /rabbitmq is not running in the stack at .*dlq-empty/)
        assert.match(run.stderr, /poc up/)
        assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace')
      }
      const json = await runPoc(empty, ['dlq', 'list', '--json'])
      assert.equal(json.exitCode, 3)
      assert.equal(parseJson<{error: {code: string}}>(json).error.code, 'stack_not_running')
    } finally {
      await cleanup(empty)
    }
  })
})
