import amqp, {type ChannelModel, type ConfirmChannel, type GetMessage, type Options} from 'amqplib'
import {deadLetterQueue, shardQueue} from '../services/shared/bus.js'
import {PocError, errorMessage, usageError} from './errors.js'
import type {PocHome} from './home.js'
import {runningComponent} from './running.js'

/** One dead letter as `poc dlq list` shows it, read without taking it off its queue. */
export interface DeadLetterSample {
  /** The message id, which is the event's eventId. */
  eventId?: string
  /** The `type` header. */
  type?: string
  /** The envelope's key, when the body is a JSON envelope. */
  key?: string
  /** Why it was dead-lettered the last time (rejected, expired, maxlen, delivery_limit). */
  reason?: string
  /** How many times it was dead-lettered for that reason from that queue. */
  deaths?: number
}

export interface DeadLetterQueueReport {
  queue: string
  /** The queue its messages were dead-lettered from, and go back to on a redrive. */
  source: string
  messages: number
  sample: DeadLetterSample[]
}

export interface DlqListResult {
  queues: DeadLetterQueueReport[]
  total: number
}

export interface DlqListRequest {
  /** Only `shard.{shard}.dead`. */
  shard?: number
  /** How many messages of each queue to show. */
  limit: number
}

export interface RedriveReport {
  queue: string
  source: string
  moved: number
  /** Why messages were left in the dead-letter queue. */
  skipped?: string
}

export interface DlqRedriveResult {
  moved: RedriveReport[]
  total: number
}

export interface DlqRequest {
  shard?: number
}

export interface DlqContext {
  home: PocHome
}

export interface DeadQueue {
  queue: string
  source: string
}

const deadSuffix = /^(.+)\.dead$/
const shardName = /^shard\.(\d+)(?:\.dead)?$/
const credentials = {username: 'guest', password: 'guest'}
const requestTimeoutMs = 10_000
/** Dead letters published per round of confirms. */
const redriveBatch = 100
/** A sampled body longer than this is cut, and its key is not shown. */
const sampleBytes = 64 * 1024

/**
 * The dead-letter queues among the broker's queues, optionally only one shard's, sorted by name.
 * The shards that exist are the ones with a `shard.{i}` or `shard.{i}.dead` queue.
 */
export function selectDeadQueues(queueNames: string[], shard?: number): DeadQueue[] {
  const dead = queueNames
    .flatMap((queue) => {
      const source = deadSuffix.exec(queue)?.[1]
      return source !== undefined && deadLetterQueue(source) === queue ? [{queue, source}] : []
    })
    .sort((a, b) => a.queue.localeCompare(b.queue))
  if (shard === undefined) return dead
  const shards = 1 + Math.max(-1, ...queueNames.map((q) => Number(shardName.exec(q)?.[1] ?? -1)))
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) {
    throw usageError(
      shards === 0
        ? `--shard ${shard} names no shard: the broker has no shard queues yet`
        : `--shard ${shard} is out of range: the broker has shards 0 to ${shards - 1}`,
      shards === 0
        ? ['The services declare their queues when they start: poc up']
        : [`Pick a shard from 0 to ${shards - 1}, or leave --shard out for every dead-letter queue.`],
    )
  }
  const wanted = deadLetterQueue(shardQueue(shard))
  return dead.filter((d) => d.queue === wanted)
}

/**
 * The headers a dead letter goes back with: the broker's record of its deaths is dropped, so
 * the message starts over as if it were published for the first time.
 */
export function redriveHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).filter(
      ([name]) =>
        name !== 'x-death' && !name.startsWith('x-first-death-') && !name.startsWith('x-last-death-'),
    ),
  )
}

/** A message as the management API's `get` returns it. */
export interface ManagementMessage {
  payload?: string
  payload_encoding?: 'string' | 'base64'
  properties?: {
    message_id?: string
    headers?: Record<string, unknown>
  }
}

export function sampleOf(message: ManagementMessage): DeadLetterSample {
  const headers = message.properties?.headers ?? {}
  const [death] = Array.isArray(headers['x-death']) ? (headers['x-death'] as unknown[]) : []
  const {reason, count} = (death ?? {}) as {reason?: unknown; count?: unknown}
  return {
    eventId: stringOrUndefined(message.properties?.message_id),
    type: stringOrUndefined(headers.type),
    key: keyOf(message),
    reason: stringOrUndefined(reason) ?? stringOrUndefined(headers['x-first-death-reason']),
    deaths: typeof count === 'number' ? count : undefined,
  }
}

function keyOf(message: ManagementMessage): string | undefined {
  if (message.payload === undefined) return undefined
  const text =
    message.payload_encoding === 'base64'
      ? Buffer.from(message.payload, 'base64').toString('utf8')
      : message.payload
  try {
    return stringOrUndefined((JSON.parse(text) as {key?: unknown}).key)
  } catch {
    return undefined
  }
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/** Every dead-letter queue with its depth and the first messages, none of them consumed. */
export async function listDeadLetters(request: DlqListRequest, context: DlqContext): Promise<DlqListResult> {
  const broker = await findBroker(context.home)
  const selected = selectDeadQueues(await broker.queueNames(), request.shard)
  return broker.withChannel(async (channel) => {
    const queues: DeadLetterQueueReport[] = []
    for (const {queue, source} of selected) {
      // The management API's counts lag by its statistics interval; the broker's own are exact.
      const {messageCount: messages} = await channel.checkQueue(queue)
      const count = Math.min(messages, request.limit)
      const sample = count > 0 ? (await broker.peek(queue, count)).map(sampleOf) : []
      queues.push({queue, source, messages, sample})
    }
    return {queues, total: queues.reduce((sum, q) => sum + q.messages, 0)}
  })
}

/**
 * Moves dead letters back to the queues they died in: each one is acknowledged only after the
 * broker confirmed its copy, so a kill at any point loses nothing (at worst a message is in both
 * queues; consumers are idempotent). At most the messages present at the start are moved, so a
 * consumer that dead-letters them again cannot keep a redrive going forever.
 */
export async function redriveDeadLetters(
  request: DlqRequest,
  context: DlqContext,
): Promise<DlqRedriveResult> {
  const broker = await findBroker(context.home)
  const names = await broker.queueNames()
  const selected = selectDeadQueues(names, request.shard)
  const existing = new Set(names)
  return broker.withChannel(async (channel) => {
    const moved: RedriveReport[] = []
    for (const dead of selected) {
      if (!existing.has(dead.source)) {
        const {messageCount} = await channel.checkQueue(dead.queue)
        moved.push({
          ...dead,
          moved: 0,
          skipped:
            messageCount === 0
              ? undefined
              : `${dead.source} does not exist; start the service that declares it`,
        })
        continue
      }
      moved.push(await redriveQueue(channel, dead))
    }
    return {moved, total: moved.reduce((sum, r) => sum + r.moved, 0)}
  })
}

async function redriveQueue(channel: ConfirmChannel, {queue, source}: DeadQueue): Promise<RedriveReport> {
  const {messageCount: present} = await channel.checkQueue(queue)
  let moved = 0
  while (moved < present) {
    const wanted = Math.min(redriveBatch, present - moved)
    const batch: GetMessage[] = []
    while (batch.length < wanted) {
      const message = await channel.get(queue, {noAck: false})
      if (message === false) break
      batch.push(message)
    }
    if (batch.length === 0) break
    const returned = await republish(channel, source, batch)
    if (returned) {
      // Unroutable (its queue was deleted meanwhile): keep every one of them where it was.
      for (const message of batch) tryRequeue(channel, message)
      return {queue, source, moved, skipped: `${source} stopped accepting messages during the redrive`}
    }
    for (const message of batch) channel.ack(message)
    moved += batch.length
    // The queue ran dry: something else took the rest.
    if (batch.length < wanted) break
  }
  return {queue, source, moved}
}

/** Publishes copies and waits for every confirm; true when the broker returned any as unroutable. */
async function republish(channel: ConfirmChannel, source: string, batch: GetMessage[]): Promise<boolean> {
  let returned = false
  // The broker sends a return before the confirm of the same message.
  const onReturn = () => (returned = true)
  channel.on('return', onReturn)
  try {
    // A full write buffer still sends the message; a batch at a time keeps the buffer bounded.
    const confirms = batch.map(
      (message) =>
        new Promise<void>((resolve, reject) => {
          channel.sendToQueue(source, message.content, redriveProperties(message), (error) =>
            error ? reject(new Error(`the broker refused a message for ${source}`)) : resolve(),
          )
        }),
    )
    const outcomes = await Promise.allSettled(confirms)
    const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')
    if (refused) {
      for (const message of batch) tryRequeue(channel, message)
      throw new PocError(`${errorMessage(refused.reason)}; the dead letters stay where they were`, {
        code: 'redrive_refused',
        suggestions: [
          'Check the broker with poc status and poc logs rabbitmq, then run poc dlq redrive again.',
        ],
      })
    }
    return returned
  } finally {
    channel.off('return', onReturn)
  }
}

function tryRequeue(channel: ConfirmChannel, message: GetMessage): void {
  try {
    channel.nack(message, false, true)
  } catch {
    // The channel is closed: the broker requeues what it had not seen acknowledged.
  }
}

function redriveProperties(message: GetMessage): Options.Publish {
  const {properties} = message
  return {
    mandatory: true,
    persistent: true,
    messageId: properties.messageId as string | undefined,
    contentType: properties.contentType as string | undefined,
    contentEncoding: properties.contentEncoding as string | undefined,
    correlationId: properties.correlationId as string | undefined,
    appId: properties.appId as string | undefined,
    timestamp: properties.timestamp as number | undefined,
    type: properties.type as string | undefined,
    headers: redriveHeaders(properties.headers),
  }
}

interface Broker {
  queueNames(): Promise<string[]>
  peek(queue: string, count: number): Promise<ManagementMessage[]>
  withChannel<T>(work: (channel: ConfirmChannel) => Promise<T>): Promise<T>
}

/** The RabbitMQ of the stack in $POC_HOME, or an error saying how to start one. */
async function findBroker(home: PocHome): Promise<Broker> {
  const {host, ports} = await runningComponent(home, 'rabbitmq')
  const managementUrl = `http://${host}:${ports.management}/api`
  const amqpUrl = `amqp://${host}:${ports.amqp}`
  const unreachable = (what: string, error: unknown) =>
    new PocError(`cannot reach RabbitMQ's ${what}: ${errorMessage(error)}`, {
      code: 'broker_unreachable',
      cause: error,
      suggestions: ['See its state with poc status and its log with poc logs rabbitmq; poc up restarts it.'],
    })

  const management = async <T>(
    resource: string,
    init: {method?: string; body?: unknown} = {},
  ): Promise<T> => {
    const url = `${managementUrl}/${resource}`
    let response: Response
    try {
      response = await fetch(url, {
        method: init.method ?? 'GET',
        headers: {
          authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`,
          'content-type': 'application/json',
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.timeout(requestTimeoutMs),
      })
    } catch (error) {
      throw unreachable(`management API at ${managementUrl}`, error)
    }
    if (!response.ok) {
      throw unreachable(
        `management API at ${managementUrl}`,
        new Error(
          `${init.method ?? 'GET'} /${resource} answered ${response.status} ${await response.text()}`,
        ),
      )
    }
    return (await response.json()) as T
  }

  return {
    queueNames: async () =>
      (await management<Array<{name: string}>>('queues/%2F?columns=name')).map((q) => q.name),
    peek: (queue, count) =>
      management<ManagementMessage[]>(`queues/%2F/${encodeURIComponent(queue)}/get`, {
        method: 'POST',
        // Requeued at once: a look, not a consume.
        body: {count, ackmode: 'ack_requeue_true', encoding: 'auto', truncate: sampleBytes},
      }),
    withChannel: async (work) => {
      let model: ChannelModel
      try {
        model = await amqp.connect(
          {protocol: 'amqp', hostname: host, port: ports.amqp, ...credentials},
          {timeout: requestTimeoutMs, clientProperties: {connection_name: 'poc dlq'}},
        )
      } catch (error) {
        throw unreachable(`AMQP port at ${amqpUrl}`, error)
      }
      model.on('error', () => undefined)
      try {
        const channel = await model.createConfirmChannel()
        channel.on('error', () => undefined)
        try {
          return await work(channel)
        } catch (error) {
          if (error instanceof PocError) throw error
          throw new PocError(`RabbitMQ refused the dead-letter operation: ${errorMessage(error)}`, {
            code: 'broker_refused',
            cause: error,
            suggestions: [
              'Nothing was lost; run the command again, and see poc logs rabbitmq if it repeats.',
            ],
          })
        } finally {
          // Closing the channel first gets its acks to the broker; a connection close could overtake them.
          await channel.close().catch(() => undefined)
        }
      } finally {
        await model.close().catch(() => undefined)
      }
    },
  }
}
