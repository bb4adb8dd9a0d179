import {setTimeout as delay} from 'node:timers/promises'
import amqp, {type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage} from 'amqplib'
import {type Envelope, type MessageFormat, messageHeaders, parseMessage} from '../../contract/envelope.js'
import type {Logger} from './logger.js'
import {coalesceWrites} from './amqp-writes.js'
import {Outbox, type OutboxRecord} from './outbox.js'
import {dependenciesReady, startGated} from './start-gate.js'
import {shardOf} from '../../contract/shard.js'
import {deadLetterQueue, exchanges, shardQueue} from '../../contract/topology.js'

const publishable = new Set<string>([exchanges.events, exchanges.domain])

export interface BusOptions {
  url: string
  numShards: number
  outboxFile: string
  logger: Logger
  /** Names the connection in RabbitMQ's management UI and the bus's log lines. */
  service: string
  /** How long publish waits for the broker's confirm before answering 'queued'. */
  confirmTimeoutMs?: number
  /** How long close() keeps sending what is left in the outbox. */
  closeTimeoutMs?: number
  /**
   * Publish answers once the event is in the outbox (fsynced), without its confirm, while no
   * more than this many accepted events await theirs; beyond, it waits as with 0 (the default:
   * always wait for the confirm, up to the confirm timeout). The outbox makes an event durable
   * either way; this bounds how far a caller can run ahead of the broker.
   */
  maxUnconfirmed?: number
}

export interface PublishRequest {
  exchange: string
  routingKey: string
  envelope: Envelope<object>
}

/**
 * 'confirmed': the broker has the message on disk. 'queued': it is in the durable outbox and
 * is sent in order: now (its confirm not awaited, see maxUnconfirmed), or when the broker is
 * reachable again.
 */
export interface PublishResult {
  eventId: string
  status: 'confirmed' | 'queued'
}

export interface Delivery {
  queue: string
  routingKey: string
  redelivered: boolean
  messageId: string | undefined
  contentType: string | undefined
  persistent: boolean
  headers: Record<string, unknown>
  /** Our envelope, or the seed's flat message read as one. */
  format: MessageFormat
}

/** 'dead' sends the message to its dead-letter queue; a thrown error puts it back in its queue. */
export type HandlerOutcome = 'ack' | 'dead'
export type Handler = (envelope: Envelope, delivery: Delivery) => Promise<HandlerOutcome>

export interface ConsumeOptions {
  prefetch?: number
}

export interface BusStatus {
  connected: boolean
  outboxDepth: number
  /** The queues this bus consumes, and whether each has a live consumer now. */
  consumers: Array<{queue: string; active: boolean}>
  consumersActive: boolean
}

interface Consumer {
  queue: string
  handler: Handler
  prefetch: number
  channel?: Channel
  consumerTag?: string
  starting?: Promise<void>
  /** The connection a restart is scheduled on. */
  retryOn?: ChannelModel
  /** Consecutive handler failures or failed starts: how long to wait before the next try. */
  failures: number
}

const firstRetryMs = 200
const maxRetryMs = 5000
const connectTimeoutMs = 10_000

function backoffMs(failures: number): number {
  return Math.min(firstRetryMs * 2 ** Math.max(failures - 1, 0), maxRetryMs)
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * The services' RabbitMQ client: declares the topology of SPEC §3 on every (re)connect,
 * publishes through a durable outbox with publisher confirms, and consumes with manual acks.
 * It reconnects forever (200 ms doubling to 5 s) until close().
 */
export class Bus {
  private readonly options: Required<BusOptions>
  private readonly log: Logger
  private outbox: Outbox | undefined
  private model: ChannelModel | undefined
  private publisher: ConfirmChannel | undefined
  /** The publisher waits for 'drain' before sending more. */
  private blocked = false
  /** Records sent and awaiting their confirm, with the channel they went out on. */
  private readonly sending = new Map<string, ConfirmChannel>()
  private readonly waiters = new Map<string, (status: PublishResult['status']) => void>()
  private readonly inboxes = new Map<string, string[]>()
  private readonly consumers: Consumer[] = []
  private readonly inFlight = new Set<Promise<void>>()
  private readonly stop = new AbortController()
  private loop: Promise<void> | undefined
  private closing: Promise<void> | undefined

  constructor(options: BusOptions) {
    if (!Number.isInteger(options.numShards) || options.numShards < 1) {
      throw new RangeError(`numShards must be a positive integer, got ${options.numShards}`)
    }
    this.options = {confirmTimeoutMs: 5000, closeTimeoutMs: 5000, maxUnconfirmed: 0, ...options}
    this.log = options.logger.child({component: 'bus'})
  }

  /**
   * Loads the outbox and starts connecting. Resolves after the first attempt, connected or not:
   * a service starts while the broker is down, and its publishes are queued meanwhile. Behind
   * poc up's start gate (start-gate.ts) it resolves at once and connects when the gate opens.
   */
  async start(): Promise<void> {
    if (this.outbox || this.closing) {
      throw new Error(`the bus of ${this.options.service} was already started; a closed bus stays closed`)
    }
    this.outbox = await Outbox.open(this.options.outboxFile)
    const {pending, skippedLines} = this.outbox.recovery
    if (skippedLines > 0) {
      this.log.warn(
        {file: this.outbox.file, skippedLines},
        'skipped unreadable outbox lines (written after the last fsync, so never accepted)',
      )
    }
    if (pending > 0) this.log.info({pending}, 'outbox holds unsent events; sending them once connected')
    let attempted!: () => void
    const firstAttempt = new Promise<void>((resolve) => (attempted = resolve))
    // Behind poc up's start gate the first attempt waits for it, and the service goes on starting.
    const gated = startGated()
    this.loop = this.run(attempted, gated)
    if (!gated) await firstAttempt
  }

  status(): BusStatus {
    const consumers = this.consumers.map((c) => ({queue: c.queue, active: c.channel !== undefined}))
    return {
      connected: this.publisher !== undefined,
      outboxDepth: this.outbox?.depth ?? 0,
      consumers,
      consumersActive: consumers.every((c) => c.active),
    }
  }

  /**
   * Accepts the event durably (outbox, fsync) and sends it. Never waits longer than the confirm
   * timeout: without a confirm by then the event stays queued and is sent later, in order.
   */
  async publish(request: PublishRequest): Promise<PublishResult> {
    const {exchange, routingKey, envelope} = request
    const outbox = this.outbox
    if (!outbox)
      throw new Error(`cannot publish ${envelope.type}: the bus is not started (call start() first)`)
    if (this.closing)
      throw new Error(`cannot publish ${envelope.type}: the bus of ${this.options.service} is closed`)
    if (!publishable.has(exchange)) {
      // An unknown exchange would close the channel on every attempt to send the record.
      throw new Error(
        `cannot publish ${envelope.type} to exchange "${exchange}": the bus publishes to events or domain`,
      )
    }
    const headers = messageHeaders(envelope)
    const record = await outbox.append({exchange, routingKey, envelope, headers})
    const eventId = envelope.eventId
    if (!this.publisher) return {eventId, status: 'queued'}
    if (!outbox.has(record.id)) return {eventId, status: 'confirmed'}
    if (outbox.depth <= this.options.maxUnconfirmed) {
      this.flush()
      return {eventId, status: 'queued'}
    }
    // A plain timer: an aborted timers/promises delay costs an AbortError (a stack trace) per publish.
    let timer: NodeJS.Timeout | undefined
    const settled = new Promise<PublishResult['status']>((resolve) => {
      this.waiters.set(record.id, resolve)
      timer = setTimeout(resolve, this.options.confirmTimeoutMs, 'queued')
    })
    this.flush()
    try {
      const status = await settled
      if (status === 'queued' && this.sending.has(record.id)) {
        this.log.warn(
          {eventId, timeoutMs: this.options.confirmTimeoutMs},
          'no confirm in time; the event stays queued',
        )
      }
      return {eventId, status}
    } finally {
      clearTimeout(timer)
      this.waiters.delete(record.id)
    }
  }

  /** Publishes to `events`, routed to the shard of the envelope's key. */
  async publishToShard(envelope: Envelope<object>): Promise<PublishResult & {shard: number}> {
    const shard = shardOf(envelope.key, this.options.numShards)
    const result = await this.publish({exchange: exchanges.events, routingKey: shardQueue(shard), envelope})
    return {...result, shard}
  }

  /**
   * A service's own durable queue on `domain`, bound with the routing patterns, with its dead
   * letters in `<queue>.dead`. Declared now when connected, and again on every reconnect.
   */
  async declareInbox(queue: string, patterns: string[]): Promise<void> {
    if (queue === '' || queue.startsWith('amq.')) throw new Error(`"${queue}" cannot name an inbox queue`)
    if (patterns.length === 0) throw new Error(`the inbox ${queue} needs at least one routing pattern`)
    this.inboxes.set(queue, [...patterns])
    const model = this.model
    if (!model) return
    try {
      await this.declare(model, (channel) => this.declareQueue(channel, queue, exchanges.domain, patterns))
    } catch (error) {
      // Keeping it would fail every reconnect on the same conflict.
      this.inboxes.delete(queue)
      throw new Error(`cannot declare the inbox ${queue}: ${errorMessage(error)}`, {cause: error})
    }
  }

  /**
   * Handles the queue's messages one channel per queue, manual acks; with prefetch 1 (the
   * default) they are handled one at a time in queue order. Resumed after every reconnect.
   */
  async consume(queue: string, handler: Handler, options: ConsumeOptions = {}): Promise<void> {
    if (this.closing) throw new Error(`cannot consume ${queue}: the bus of ${this.options.service} is closed`)
    if (this.consumers.some((c) => c.queue === queue)) {
      // A second consumer would break the per-shard ordering.
      throw new Error(`the bus already consumes ${queue}`)
    }
    const consumer: Consumer = {queue, handler, prefetch: options.prefetch ?? 1, failures: 0}
    this.consumers.push(consumer)
    const model = this.model
    if (!model) return
    try {
      await this.ensureConsumer(model, consumer)
    } catch (error) {
      this.consumers.splice(this.consumers.indexOf(consumer), 1)
      throw new Error(`cannot consume ${queue}: ${errorMessage(error)}`, {cause: error})
    }
  }

  /**
   * Idempotent. Stops consuming, waits for the handlers at work, sends what it can of the
   * outbox within the close timeout (the rest is sent on the next start), then disconnects.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown(): Promise<void> {
    this.stop.abort()
    await Promise.allSettled(
      this.consumers.map(async ({channel, consumerTag}) => {
        if (channel && consumerTag) await channel.cancel(consumerTag)
      }),
    )
    await Promise.allSettled(this.inFlight)
    const deadline = Date.now() + this.options.closeTimeoutMs
    while (this.publisher && (this.outbox?.depth ?? 0) > 0 && Date.now() < deadline) await delay(50)
    const left = this.outbox?.depth ?? 0
    if (left > 0)
      this.log.warn({left}, 'closing with unsent events in the outbox; they are sent on the next start')
    this.resolveWaiters('queued')
    // amqplib may write a connection close ahead of frames still queued on a channel; closing the
    // channels first gets the handlers' last acks to the broker instead of redelivering those messages.
    await Promise.allSettled([this.publisher, ...this.consumers.map((c) => c.channel)].map((c) => c?.close()))
    await this.model?.close().catch(() => undefined)
    await this.loop
    await Promise.allSettled(this.inFlight)
    await this.outbox?.close()
  }

  private async sleep(ms: number): Promise<void> {
    await delay(ms, undefined, {signal: this.stop.signal}).catch(() => undefined)
  }

  private async run(attempted: () => void, gated: boolean): Promise<void> {
    if (gated) {
      const stopped = new Promise<void>((resolve) =>
        this.stop.signal.addEventListener('abort', () => resolve(), {once: true}),
      )
      await Promise.race([dependenciesReady(), stopped])
    }
    let failures = 0
    while (!this.stop.signal.aborted) {
      let connection: {lost: Promise<void>}
      try {
        connection = await this.connect()
      } catch (error) {
        failures++
        attempted()
        const retryInMs = backoffMs(failures)
        // Once per outage at warn: the retries would flood the log.
        const level = failures === 1 ? 'warn' : 'debug'
        this.log[level]({err: error, retryInMs}, `cannot reach RabbitMQ: ${errorMessage(error)}; retrying`)
        await this.sleep(retryInMs)
        continue
      }
      if (failures > 0) this.log.info({attempts: failures + 1}, 'reconnected to RabbitMQ')
      failures = 0
      attempted()
      await connection.lost
      if (this.stop.signal.aborted) break
      this.log.warn('lost the connection to RabbitMQ; reconnecting')
      failures = 1
      await this.sleep(backoffMs(failures))
    }
  }

  /** Connects and declares everything; `lost` settles when this connection is gone. */
  private async connect(): Promise<{lost: Promise<void>}> {
    const model = await amqp.connect(this.options.url, {
      timeout: connectTimeoutMs,
      // amqplib leaves Nagle's algorithm on: a small frame (an ack, the next publish) written while
      // the last is unacknowledged waits for the broker's delayed ACK, up to 40 ms on loopback.
      noDelay: true,
      clientProperties: {connection_name: this.options.service},
    })
    coalesceWrites(model)
    const lost = new Promise<void>((resolve) => model.once('close', () => resolve()))
    model.on('error', (error: Error) => this.log.warn({err: error}, 'RabbitMQ connection error'))
    model.on('blocked', (reason: string) => this.log.warn({reason}, 'RabbitMQ blocks publishing'))
    model.on('unblocked', () => this.log.info('RabbitMQ unblocked publishing'))
    try {
      const publishing = model.createConfirmChannel()
      publishing.catch(() => undefined)
      await this.declareTopology(model)
      const publisher = await publishing
      // Only a channel the broker closed on its own reports an error; reconnecting re-creates it.
      publisher.on('error', (error: Error) => {
        this.log.warn({err: error}, 'the broker closed the publish channel; reconnecting')
        if (this.model === model) model.close().catch(() => undefined)
      })
      publisher.on('close', () => this.publisherClosed(publisher))
      this.model = model
      this.publisher = publisher
      this.blocked = false
    } catch (error) {
      await model.close().catch(() => undefined)
      throw error
    }
    void lost.then(() => this.connectionLost(model))
    if (this.stop.signal.aborted) {
      await model.close().catch(() => undefined)
      return {lost}
    }
    this.log.info({shards: this.options.numShards}, 'connected to RabbitMQ; topology declared')
    await Promise.all(
      this.consumers.map((consumer) =>
        this.ensureConsumer(model, consumer).catch((error: unknown) =>
          this.consumerFailed(model, consumer, error),
        ),
      ),
    )
    this.flush()
    return {lost}
  }

  /** Declarations get a channel of their own: a refused one closes only that channel. */
  private async declare(model: ChannelModel, work: (channel: Channel) => Promise<void>): Promise<void> {
    const channel = await model.createChannel()
    channel.on('error', () => undefined)
    try {
      await work(channel)
    } finally {
      await channel.close().catch(() => undefined)
    }
  }

  /**
   * The exchanges, then every queue (the shards and the inboxes) at once, each on its channel:
   * amqplib sends a channel's next method only after the last one's answer, so one channel
   * would wait ~20 round trips in a row, seven services at a time during poc up (issue 19).
   */
  private async declareTopology(model: ChannelModel): Promise<void> {
    await this.declare(model, async (channel) => {
      await channel.assertExchange(exchanges.events, 'direct', {durable: true})
      await channel.assertExchange(exchanges.deadLetter, 'direct', {durable: true})
      await channel.assertExchange(exchanges.domain, 'topic', {durable: true})
    })
    const queues: Array<[queue: string, exchange: string, bindings: string[]]> = []
    for (let shard = 0; shard < this.options.numShards; shard++) {
      queues.push([shardQueue(shard), exchanges.events, [shardQueue(shard)]])
    }
    for (const [queue, patterns] of this.inboxes) queues.push([queue, exchanges.domain, patterns])
    await Promise.all(
      queues.map(([queue, exchange, bindings]) =>
        this.declare(model, (channel) => this.declareQueue(channel, queue, exchange, bindings)),
      ),
    )
  }

  private async declareQueue(
    channel: Channel,
    queue: string,
    exchange: string,
    bindings: string[],
  ): Promise<void> {
    const dead = deadLetterQueue(queue)
    await channel.assertQueue(dead, {durable: true})
    await channel.bindQueue(dead, exchanges.deadLetter, dead)
    await channel.assertQueue(queue, {
      durable: true,
      deadLetterExchange: exchanges.deadLetter,
      deadLetterRoutingKey: dead,
    })
    for (const key of bindings) await channel.bindQueue(queue, exchange, key)
  }

  private publisherClosed(publisher: ConfirmChannel): void {
    if (this.publisher !== publisher) return
    this.publisher = undefined
    this.resolveWaiters('queued')
  }

  private connectionLost(model: ChannelModel): void {
    if (this.model !== model) return
    this.model = undefined
    this.publisher = undefined
    this.sending.clear()
    this.resolveWaiters('queued')
    for (const consumer of this.consumers) {
      consumer.channel = undefined
      consumer.consumerTag = undefined
    }
  }

  private resolveWaiters(status: PublishResult['status']): void {
    for (const resolve of this.waiters.values()) resolve(status)
    this.waiters.clear()
  }

  /** Sends every unsent outbox record, oldest first, on the one publish channel: that keeps their order. */
  private flush(): void {
    const channel = this.publisher
    if (!channel || !this.outbox || this.blocked) return
    for (const record of this.outbox.pending()) {
      if (this.sending.has(record.id)) continue
      const sent = this.send(channel, record)
      if (sent === 'closed') return
      if (sent === 'full') {
        this.blocked = true
        channel.once('drain', () => {
          this.blocked = false
          this.flush()
        })
        return
      }
    }
  }

  private send(channel: ConfirmChannel, record: OutboxRecord): 'sent' | 'full' | 'closed' {
    const {envelope} = record
    this.sending.set(record.id, channel)
    try {
      const written = channel.publish(
        record.exchange,
        record.routingKey,
        Buffer.from(JSON.stringify(envelope)),
        {
          persistent: true,
          messageId: envelope.eventId,
          contentType: 'application/json',
          headers: record.headers,
          appId: this.options.service,
        },
        (error: unknown) => this.confirmed(channel, record, error),
      )
      return written ? 'sent' : 'full'
    } catch {
      // The channel closed under us; the record is resent after the reconnect.
      this.sending.delete(record.id)
      return 'closed'
    }
  }

  private confirmed(channel: ConfirmChannel, record: OutboxRecord, error: unknown): void {
    if (this.sending.get(record.id) !== channel) return
    this.sending.delete(record.id)
    if (error) {
      this.waiters.get(record.id)?.('queued')
      // amqplib fails the pending confirms before it reports the channel closed; a channel still
      // open after that is a nack: the broker failed to take the message. Retry after a pause.
      queueMicrotask(() => {
        if (channel !== this.publisher) return
        this.log.warn(
          {eventId: record.envelope.eventId, err: error},
          'the broker refused an event; retrying it',
        )
        void this.sleep(maxRetryMs).then(() => this.flush())
      })
      return
    }
    this.waiters.get(record.id)?.('confirmed')
    this.outbox?.markSent(record.id).catch((markError: unknown) => {
      this.log.warn({err: markError}, 'could not mark an event sent in the outbox; it may be sent twice')
    })
  }

  /** Starts the consumer unless it runs or is being started: a queue never gets two consumers. */
  private ensureConsumer(model: ChannelModel, consumer: Consumer): Promise<void> {
    if (consumer.channel) return Promise.resolve()
    consumer.starting ??= this.startConsumer(model, consumer).finally(() => (consumer.starting = undefined))
    return consumer.starting
  }

  private async startConsumer(model: ChannelModel, consumer: Consumer): Promise<void> {
    const channel = await model.createChannel()
    channel.on('error', (error: Error) =>
      this.log.warn({err: error, queue: consumer.queue}, 'consumer channel error'),
    )
    channel.on('close', () => {
      // A channel that failed while starting is retried by whoever started it.
      if (consumer.channel !== channel) return
      consumer.channel = undefined
      consumer.consumerTag = undefined
      // A lost connection closes its channels before it reports itself closed: look once that
      // has settled, so only a channel lost on a live connection is restarted here.
      setImmediate(() => {
        if (this.model === model && !this.stop.signal.aborted && this.consumers.includes(consumer)) {
          this.consumerFailed(model, consumer, new Error('its channel closed'))
        }
      })
    })
    try {
      await channel.prefetch(consumer.prefetch)
      const {consumerTag} = await channel.consume(
        consumer.queue,
        (message) => this.deliver(consumer, channel, message),
        {noAck: false},
      )
      consumer.channel = channel
      consumer.consumerTag = consumerTag
      consumer.failures = 0
    } catch (error) {
      await channel.close().catch(() => undefined)
      throw error
    }
    this.log.info({queue: consumer.queue, prefetch: consumer.prefetch}, 'consuming')
  }

  /** Starts the consumer again after a backoff, while its connection stands. */
  private consumerFailed(model: ChannelModel, consumer: Consumer, error: unknown): void {
    if (consumer.retryOn === model) return
    consumer.retryOn = model
    consumer.failures++
    const retryInMs = backoffMs(consumer.failures)
    this.log.warn(
      {queue: consumer.queue, err: error, retryInMs},
      `the consumer of ${consumer.queue} stopped; restarting it`,
    )
    void this.sleep(retryInMs).then(async () => {
      if (consumer.retryOn === model) consumer.retryOn = undefined
      if (this.model !== model || this.stop.signal.aborted || !this.consumers.includes(consumer)) return
      await this.ensureConsumer(model, consumer).catch((again: unknown) =>
        this.consumerFailed(model, consumer, again),
      )
    })
  }

  private deliver(consumer: Consumer, channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (its queue was deleted): closing the channel restarts it.
      this.log.warn({queue: consumer.queue}, 'RabbitMQ cancelled the consumer')
      channel.close().catch(() => undefined)
      return
    }
    const work = this.handle(consumer, channel, message)
    this.inFlight.add(work)
    void work.finally(() => this.inFlight.delete(work))
  }

  private async handle(consumer: Consumer, channel: Channel, message: ConsumeMessage): Promise<void> {
    const {queue} = consumer
    const {fields, properties} = message
    const parsed = parseMessage(message.content, {
      messageId: properties.messageId as string | undefined,
      headers: properties.headers,
    })
    if (!parsed.ok) {
      this.log.error(
        {queue, messageId: properties.messageId as unknown, reason: parsed.reason},
        `dead-lettering a message that is not an event: ${parsed.reason}`,
      )
      this.settle(channel, message, 'dead', queue)
      return
    }
    const {envelope, format} = parsed
    const delivery: Delivery = {
      queue,
      routingKey: fields.routingKey,
      redelivered: fields.redelivered,
      messageId: properties.messageId as string | undefined,
      contentType: properties.contentType as string | undefined,
      persistent: properties.deliveryMode === 2,
      headers: properties.headers ?? {},
      format,
    }
    let outcome: HandlerOutcome
    try {
      outcome = await consumer.handler(envelope, delivery)
      consumer.failures = 0
    } catch (error) {
      consumer.failures++
      const retryInMs = backoffMs(consumer.failures)
      this.log.warn(
        {queue, eventId: envelope.eventId, type: envelope.type, err: error, retryInMs},
        'handler failed; the message goes back to its queue',
      )
      // Holding the message a while (prefetch keeps others back) spares a failing dependency a hot loop.
      await this.sleep(retryInMs)
      this.settle(channel, message, 'requeue', queue)
      return
    }
    if (outcome === 'dead') {
      this.log.warn(
        {queue, eventId: envelope.eventId, type: envelope.type},
        'handler dead-lettered the message',
      )
    }
    this.settle(channel, message, outcome, queue)
  }

  private settle(
    channel: Channel,
    message: ConsumeMessage,
    outcome: HandlerOutcome | 'requeue',
    queue: string,
  ): void {
    try {
      if (outcome === 'ack') channel.ack(message)
      else channel.nack(message, false, outcome === 'requeue')
    } catch (error) {
      // The channel closed meanwhile: the broker redelivers the message, so nothing is lost.
      this.log.warn({queue, err: error}, `could not ${outcome} a message; it will be redelivered`)
    }
  }
}

export {coalesceWrites}
