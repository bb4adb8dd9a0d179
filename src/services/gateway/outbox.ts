import {type FileHandle, open, readFile, rename} from 'node:fs/promises'
import {setTimeout as delay} from 'node:timers/promises'
import amqp, {type ChannelModel, type ConfirmChannel} from 'amqplib'
import {exchanges} from '../../contract/topology.js'
import {defaultTenantId, type Envelope} from '../../contract/envelope.js'
import {coalesceWrites} from '../shared/amqp-writes.js'
import type {Logger} from '../shared/logger.js'

/** WAL record types the outbox announces, and the routing key (= event type) of each (SPEC §3). */
export const outboxTypes: Readonly<Record<string, string>> = {
  order_accepted: 'gateway.order.accepted',
  cancel_requested: 'gateway.order.cancel_requested',
}

export interface WalOutboxOptions {
  amqpUrl: string
  /** The WAL the outbox reads. */
  walFile: string
  /** Bytes of the WAL that are durable: the outbox never reads past them. */
  durableBytes: () => number
  offsetFile: string
  logger: Logger
  backoffBaseMs: number
  backoffMaxMs: number
  /**
   * Bytes read per round; a round is published, confirmed, then its offset saved. Small, so a
   * round never holds the event loop (shared with the fast path) for more than a fraction of a ms.
   */
  chunkBytes?: number
  /**
   * The offset is saved at most this often, so its fdatasync does not come between every two
   * group commits of the WAL on the same disk; an idle outbox saves it within a poll (1 s), a
   * closing one at once. A crash publishes again what was confirmed since (consumers deduplicate).
   */
  saveEveryMs?: number
}

export interface WalOutboxStatus {
  connected: boolean
  /** Bytes of the WAL published and confirmed (saved to the offset file within saveEveryMs). */
  offset: number
  /** The seq of the last record published and confirmed (0 before the first). */
  seq: number
  /** Durable WAL bytes not yet published. */
  lagBytes: number
  backoffMs: number
  read: number
  published: number
  skipped: number
  errors: number
  /** Times a corrupt offset file was set aside and the outbox started again from 0. */
  offsetResets: number
  lastError: string | null
}

interface SavedOffset {
  offset: number
  seq: number
}

/**
 * Publishes the gateway's accepted orders and cancel requests from the WAL to RabbitMQ: the WAL
 * is the outbox, so the fast path never waits on the broker. Each round reads durable lines after
 * the confirmed offset, publishes them with confirms, and only then saves the new offset (fsynced,
 * at most every `saveEveryMs`),
 * so every record is delivered at least once across crashes; consumers deduplicate on the
 * idempotency key, which is the record's chain hash. A broker outage backs off (base doubling
 * to max) and is retried forever.
 */
export class WalOutbox {
  private readonly options: Required<WalOutboxOptions>
  private readonly log: Logger
  private model: ChannelModel | undefined
  private channel: ConfirmChannel | undefined
  /** Published and confirmed; `saved` trails it by at most saveEveryMs. */
  private confirmed: SavedOffset = {offset: 0, seq: 0}
  private saved: SavedOffset = {offset: 0, seq: 0}
  private savedAt = 0
  private backoffMs = 0
  private counters = {read: 0, published: 0, skipped: 0, errors: 0, offsetResets: 0}
  private lastError: string | null = null
  private wakeUp: (() => void) | undefined
  private stopped = false
  private loop: Promise<void> | undefined
  private walHandle: FileHandle | undefined

  constructor(options: WalOutboxOptions) {
    this.options = {chunkBytes: 64 * 1024, saveEveryMs: 200, ...options}
    this.log = options.logger.child({component: 'outbox'})
  }

  async start(): Promise<void> {
    this.saved = await this.loadOffset()
    this.confirmed = this.saved
    this.loop = this.run()
  }

  /** New durable bytes are there: look now rather than at the next poll. */
  wake(): void {
    this.wakeUp?.()
  }

  status(): WalOutboxStatus {
    return {
      connected: this.channel !== undefined,
      offset: this.confirmed.offset,
      seq: this.confirmed.seq,
      lagBytes: Math.max(0, this.options.durableBytes() - this.confirmed.offset),
      backoffMs: this.backoffMs,
      ...this.counters,
      lastError: this.lastError,
    }
  }

  async close(): Promise<void> {
    this.stopped = true
    this.wake()
    await this.loop
    await this.saveOffset(this.confirmed, true)
    await this.disconnect()
    await this.closeWal()
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let worked = false
      try {
        worked = await this.round()
        this.backoffMs = 0
      } catch (error) {
        this.counters.errors++
        this.lastError = error instanceof Error ? error.message : String(error)
        this.backoffMs =
          this.backoffMs === 0
            ? this.options.backoffBaseMs
            : Math.min(this.backoffMs * 2, this.options.backoffMaxMs)
        this.log.warn({err: this.lastError, retryInMs: this.backoffMs}, 'outbox round failed; retrying')
        await this.disconnect()
      }
      if (this.stopped) break
      if (this.backoffMs > 0) await this.sleep(this.backoffMs)
      else if (!worked) await this.sleep(1000)
    }
  }

  /** Publishes what is durable after the offset; false when there was nothing to do. */
  private async round(): Promise<boolean> {
    // Connected even when idle, so a broker outage shows in /health before orders pile up.
    const channel = await this.connect()
    const end = this.options.durableBytes()
    if (end <= this.confirmed.offset) {
      await this.saveOffset(this.confirmed)
      return false
    }
    const length = Math.min(end - this.confirmed.offset, this.options.chunkBytes)
    const chunk = await this.read(this.confirmed.offset, length)
    const lastNewline = chunk.lastIndexOf(0x0a)
    if (lastNewline < 0) {
      throw new Error(
        `the WAL has a line longer than ${this.options.chunkBytes} bytes at ${this.confirmed.offset}`,
      )
    }
    let seq = this.confirmed.seq
    for (const line of chunk.subarray(0, lastNewline).toString('utf8').split('\n')) {
      this.counters.read++
      const record = parseRecord(line)
      if (!record) {
        // A line that is not a record cannot be announced; /audit/verify reports it.
        this.counters.skipped++
        continue
      }
      seq = record.seq
      const type = outboxTypes[record.type]
      if (type === undefined) {
        this.counters.skipped++
        continue
      }
      const envelope = toEnvelope(type, record)
      channel.publish(exchanges.domain, type, Buffer.from(JSON.stringify(envelope)), {
        persistent: true,
        messageId: envelope.eventId,
        contentType: 'application/json',
        headers: {idempotencyKey: envelope.idempotencyKey, type},
      })
      this.counters.published++
    }
    await channel.waitForConfirms()
    this.confirmed = {offset: this.confirmed.offset + lastNewline + 1, seq}
    await this.saveOffset(this.confirmed)
    return true
  }

  private async connect(): Promise<ConfirmChannel> {
    if (this.channel) return this.channel
    const model = await amqp.connect(this.options.amqpUrl, {
      timeout: 10_000,
      // As the services' bus: no Nagle delay, and each of amqplib's write rounds in one writev.
      noDelay: true,
      clientProperties: {connection_name: 'gateway-outbox'},
    })
    coalesceWrites(model)
    model.on('error', () => undefined)
    try {
      const channel = await model.createConfirmChannel()
      channel.on('error', () => undefined)
      // The same declaration as every other service's bus (SPEC §3), so either may create it.
      await channel.assertExchange(exchanges.domain, 'topic', {durable: true})
      const lost = () => {
        if (this.model !== model) return
        this.model = undefined
        this.channel = undefined
        if (!this.stopped) this.log.warn('lost the RabbitMQ connection; orders keep being accepted')
      }
      model.on('close', lost)
      channel.on('close', lost)
      this.model = model
      this.channel = channel
      this.lastError = null
      this.log.info('outbox connected to RabbitMQ')
      return channel
    } catch (error) {
      await model.close().catch(() => undefined)
      throw error
    }
  }

  private async disconnect(): Promise<void> {
    const model = this.model
    this.model = undefined
    this.channel = undefined
    await model?.close().catch(() => undefined)
  }

  private async read(position: number, length: number): Promise<Buffer> {
    // Kept open between rounds, which come with every group commit under load.
    this.walHandle ??= await open(this.options.walFile, 'r')
    const buffer = Buffer.alloc(length)
    const {bytesRead} = await this.walHandle.read(buffer, 0, length, position)
    return buffer.subarray(0, bytesRead)
  }

  private async closeWal(): Promise<void> {
    const handle = this.walHandle
    this.walHandle = undefined
    await handle?.close()
  }

  private async sleep(ms: number): Promise<void> {
    const timer = new AbortController()
    const woken = new Promise<void>((resolve) => (this.wakeUp = resolve))
    await Promise.race([delay(ms, undefined, {signal: timer.signal}).catch(() => undefined), woken])
    timer.abort()
    this.wakeUp = undefined
  }

  private async loadOffset(): Promise<SavedOffset> {
    let text: string
    try {
      text = await readFile(this.options.offsetFile, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {offset: 0, seq: 0}
      throw error
    }
    const value = safeParse(text) as Partial<SavedOffset> | undefined
    if (value && Number.isSafeInteger(value.offset) && Number.isSafeInteger(value.seq)) {
      return {offset: value.offset as number, seq: value.seq as number}
    }
    // Sending everything again is safe (consumers deduplicate); guessing a position is not.
    const aside = `${this.options.offsetFile}.bad.${Date.now()}`
    await rename(this.options.offsetFile, aside)
    this.counters.offsetResets++
    this.log.warn(
      {aside},
      'the outbox offset file was unreadable; set it aside and publishing from the start',
    )
    return {offset: 0, seq: 0}
  }

  /** Saves `offset` unless it is saved already or the last save is under saveEveryMs old (or `now`). */
  private async saveOffset(offset: SavedOffset, now = false): Promise<void> {
    if (offset.offset === this.saved.offset && offset.seq === this.saved.seq) return
    if (!now && Date.now() - this.savedAt < this.options.saveEveryMs) return
    await writeOffset(this.options.offsetFile, offset)
    this.saved = offset
    this.savedAt = Date.now()
  }
}

async function writeOffset(file: string, offset: SavedOffset): Promise<void> {
  const temporary = `${file}.tmp`
  const handle = await open(temporary, 'w')
  try {
    await handle.writeFile(JSON.stringify(offset))
    await handle.datasync()
  } finally {
    await handle.close()
  }
  await rename(temporary, file)
}

/** Starts the outbox over at the beginning of a new, empty WAL (poc reset --gateway); none may run. */
export async function resetOutboxOffset(file: string): Promise<void> {
  await writeOffset(file, {offset: 0, seq: 0})
}

interface ParsedRecord {
  seq: number
  at: string
  type: string
  data: Record<string, unknown>
  hash: string
}

function parseRecord(line: string): ParsedRecord | undefined {
  const value = safeParse(line) as Partial<ParsedRecord> | undefined
  if (
    !value ||
    !Number.isSafeInteger(value.seq) ||
    typeof value.type !== 'string' ||
    typeof value.at !== 'string' ||
    typeof value.hash !== 'string' ||
    typeof value.data !== 'object' ||
    value.data === null
  ) {
    return undefined
  }
  return value as ParsedRecord
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The record's chain hash identifies it across resends and across WAL resets (seq restarts). */
function toEnvelope(type: string, record: ParsedRecord): Envelope<Record<string, unknown>> {
  const id = `gateway-${record.hash.slice(0, 32)}`
  const orderId = typeof record.data.orderId === 'string' ? record.data.orderId : String(record.seq)
  return {
    eventId: id,
    type,
    occurredAt: record.at,
    tenantId: defaultTenantId,
    key: orderId,
    idempotencyKey: id,
    payload: {...record.data, walSeq: record.seq},
  }
}
