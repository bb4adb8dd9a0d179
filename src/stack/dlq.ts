import type {ConfirmChannel, GetMessage, Options} from 'amqplib'
import {deadLetterQueue, redrivenHeader, shardQueue} from '../contract/topology.js'
import {parseMessage} from '../contract/envelope.js'
import {PocError, errorMessage, usageError} from './errors.js'
import type {PocHome} from './home.js'
import {type ManagementMessage, findBroker} from './broker.js'

export type {ManagementMessage} from './broker.js'

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
  /** Only the dead letters with these message ids (event ids); the others stay where they are. */
  eventIds?: string[]
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
/** Dead letters published per round of confirms. */
const redriveBatch = 100

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
 * the message starts over as if it were published for the first time, except that it carries
 * how many times it was redriven.
 */
export function redriveHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const kept = Object.fromEntries(
    Object.entries(headers ?? {}).filter(
      ([name]) =>
        name !== 'x-death' && !name.startsWith('x-first-death-') && !name.startsWith('x-last-death-'),
    ),
  )
  const before = Number(kept[redrivenHeader])
  return {...kept, [redrivenHeader]: Number.isInteger(before) && before > 0 ? before + 1 : 1}
}

export function sampleOf(message: ManagementMessage): DeadLetterSample {
  const headers = message.properties?.headers ?? {}
  const [death] = Array.isArray(headers['x-death']) ? (headers['x-death'] as unknown[]) : []
  const {reason, count} = (death ?? {}) as {reason?: unknown; count?: unknown}
  const eventId = stringOrUndefined(message.properties?.message_id)
  const body = bodyOf(message)
  return {
    eventId,
    type: stringOrUndefined(headers.type) ?? body?.type,
    key: body?.key,
    reason: stringOrUndefined(reason) ?? stringOrUndefined(headers['x-first-death-reason']),
    deaths: typeof count === 'number' ? count : undefined,
  }
}

/** The key (and type) of a dead letter's body: our envelope's, or the seed's flat message read as one. */
function bodyOf(message: ManagementMessage): {key?: string; type?: string} | undefined {
  if (message.payload === undefined) return undefined
  const text =
    message.payload_encoding === 'base64'
      ? Buffer.from(message.payload, 'base64').toString('utf8')
      : message.payload
  const parsed = parseMessage(text, {
    messageId: stringOrUndefined(message.properties?.message_id),
    headers: message.properties?.headers,
  })
  if (parsed.ok) return {key: parsed.envelope.key, type: parsed.envelope.type}
  try {
    return {key: stringOrUndefined((JSON.parse(text) as {key?: unknown}).key)}
  } catch {
    return undefined
  }
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/** Every dead-letter queue with its depth and the first messages, none of them consumed. */
export async function listDeadLetters(request: DlqListRequest, context: DlqContext): Promise<DlqListResult> {
  const broker = await findBroker(context.home, 'dlq')
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
  const broker = await findBroker(context.home, 'dlq')
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
      moved.push(await redriveQueue(channel, dead, request.eventIds))
    }
    return {moved, total: moved.reduce((sum, r) => sum + r.moved, 0)}
  })
}

async function redriveQueue(
  channel: ConfirmChannel,
  {queue, source}: DeadQueue,
  eventIds?: string[],
): Promise<RedriveReport> {
  const wanted = eventIds ? new Set(eventIds) : undefined
  const {messageCount: present} = await channel.checkQueue(queue)
  // Dead letters that are not wanted stay unacknowledged until the end, so each is seen once,
  // then go back in their order.
  const passedOver: GetMessage[] = []
  let moved = 0
  let seen = 0
  try {
    while (seen < present) {
      const size = Math.min(redriveBatch, present - seen)
      const batch: GetMessage[] = []
      while (batch.length < size) {
        const message = await channel.get(queue, {noAck: false})
        if (message === false) break
        batch.push(message)
      }
      if (batch.length === 0) break
      seen += batch.length
      const chosen = wanted ? batch.filter((m) => wanted.has(m.properties.messageId as string)) : batch
      if (wanted) passedOver.push(...batch.filter((m) => !chosen.includes(m)))
      if (chosen.length > 0 && (await republish(channel, source, chosen))) {
        // Unroutable (its queue was deleted meanwhile): keep every one of them where it was.
        for (const message of chosen) tryRequeue(channel, message)
        return {queue, source, moved, skipped: `${source} stopped accepting messages during the redrive`}
      }
      for (const message of chosen) channel.ack(message)
      moved += chosen.length
      // The queue ran dry: something else took the rest.
      if (batch.length < size) break
    }
  } finally {
    for (const message of passedOver) tryRequeue(channel, message)
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
