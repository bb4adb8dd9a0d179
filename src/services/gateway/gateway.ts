import {rm, statfs} from 'node:fs/promises'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import type {Logger} from '../shared/logger.js'
import {RESYNC_EVENT, SseHub, type SseClient} from '../shared/sse.js'
import type {GatewayConfig} from './config.js'
import {
  type AcceptOutcome,
  type CancelOutcome,
  type EngineEvent,
  type Journal,
  type Order,
  type OrderRequest,
  OrderEngine,
} from './engine.js'
import {EventRing, type GatewayEvent, type GatewayEventType} from './events.js'
import {RateEwma, ewmaTickMs} from './ewma.js'
import {LatencyHistogram} from '../../contract/latency.js'
import type {BackpressureReason, GatewayMetrics} from './metrics.js'
import {type WalOutboxStatus, resetOutboxOffset} from './outbox.js'
import {gatewayFiles} from '../../contract/files.js'
import {OrderIdReservation} from './order-ids.js'
import {type SeedStats, type StatsTally, seedStats} from './stats.js'
import {parseSymbolList} from './symbols.js'
import {Wal, type WalAppend} from './wal.js'

export interface StreamFilter {
  accountId: string
  /** Set for `/orders/:id/stream`. */
  orderId?: string
}

export type PlaceOutcome =
  | AcceptOutcome
  | {
      kind: 'rejected'
      status: 429 | 503
      reason: 'RATE_LIMITED' | BackpressureReason | 'WAL_UNAVAILABLE'
      message: string
      retryAfterSec?: number
    }

export type Rejection = Extract<PlaceOutcome, {kind: 'rejected'}>

/** POST /events (the seed's canary ingress): a probe on the fast-path queue, or why not. */
export type ProbeOutcome =
  | {kind: 'queued'}
  | {kind: 'rejected'; status: 422 | 429 | 503; reason: string; message: string; retryAfterSec?: number}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy'

interface Bucket {
  tokens: number
  refilledAt: number
}

/** Rejected clientOrderIds are remembered for `GET /orders/client/:id`, up to this many. */
const rejectMemory = 10_000
/** Orders drained per event-loop turn, so a burst never holds the loop for long. */
const drainBatch = 4096
/** Outbox lag above which /health says degraded (the seed's lag > 10000). */
const degradedLagBytes = 10_000 * 300
/** The token bucket every POST /events shares: probes are anonymous, so they get one account's share. */
const probeBucket = '\u0000events'

/**
 * The order gateway without HTTP: engine, WAL, event ring and SSE hub, outbox, limits. The
 * fast path (`place`) is synchronous up to the answer: it never waits on disk, broker or network.
 */
export class Gateway {
  readonly hub: SseHub<StreamFilter>
  private readonly outboxOffsetFile: string
  private wal!: Wal
  private engine!: OrderEngine
  private ring: EventRing
  private lastAppend: WalAppend | undefined
  /** Accepted orders waiting for their group commit, in seq order (consumed from pendingHead). */
  private pending: {seq: number; order: Order; receivedAt: number}[] = []
  private pendingHead = 0
  private drainScheduled = false
  private readonly buckets = new Map<string, Bucket>()
  private readonly rejectedClientIds = new Map<string, string>()
  private diskFreePct = 100
  private readonly diskTimer: NodeJS.Timeout
  private walWarning: string | null = null
  private tally: StatsTally = newTally()
  /** Received → on the fast-path queue, for /stats (the seed's "publish"); orders and probes. */
  private readonly publishLatency = new LatencyHistogram()
  private readonly durableRate = new RateEwma()
  private readonly softRejectRate = new RateEwma()
  private readonly ewmaTimer: NodeJS.Timeout
  private ids!: OrderIdReservation
  private readonly idsReserved = {
    reserved: (through: number) => this.engine.extendIds(through),
    failed: (error: Error) =>
      this.log.error({err: error, file: this.ids.file}, 'cannot reserve the next block of order ids'),
  }

  private constructor(
    private readonly config: GatewayConfig,
    private readonly auditKey: string,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
    readonly walFile: string,
  ) {
    this.hub = new SseHub<StreamFilter>({
      heartbeatMs: config.SSE_HEARTBEAT_MS,
      maxPendingBytes: config.SSE_MAX_PENDING_BYTES,
      maxClientsPerIp: config.SSE_MAX_CLIENTS_PER_IP,
      maxClientsPerOwner: config.SSE_MAX_CLIENTS_PER_ACCOUNT,
    })
    this.ring = new EventRing(config.SSE_REPLAY_BUFFER)
    this.outboxOffsetFile = config.OUTBOX_OFFSET_PATH ?? path.join(config.DATA_DIR, gatewayFiles.outboxOffset)
    this.diskTimer = setInterval(() => void this.checkDisk(), 1000)
    this.diskTimer.unref()
    this.ewmaTimer = setInterval(() => {
      this.durableRate.tick()
      this.softRejectRate.tick()
    }, ewmaTickMs)
    this.ewmaTimer.unref()
  }

  static async open(
    config: GatewayConfig,
    auditKey: string,
    metrics: GatewayMetrics,
    log: Logger,
  ): Promise<Gateway> {
    const walFile = config.GATEWAY_AUDIT_PATH ?? path.join(config.DATA_DIR, gatewayFiles.wal)
    const gateway = new Gateway(config, auditKey, metrics, log, walFile)
    gateway.ids = await OrderIdReservation.open(
      config.GATEWAY_ORDER_IDS_PATH ?? path.join(config.DATA_DIR, gatewayFiles.orderIds),
      config.ORDER_ID_BLOCK,
    )
    await gateway.openLog()
    await gateway.checkDisk()
    return gateway
  }

  /** Opens the WAL and rebuilds every order from it (a restart replays what was made durable). */
  private async openLog(): Promise<void> {
    const started = performance.now()
    this.wal = await Wal.open(this.walFile, {
      hmacKey: this.auditKey,
      maxWaitUs: this.config.AUDIT_FDATASYNC_MAX_WAIT_US,
      maxBatch: this.config.AUDIT_FDATASYNC_MAX_BATCH,
      // The outbox runs on the WAL's thread, which wakes it after each group commit.
      outbox: {
        amqpUrl: this.config.AMQP_URL,
        offsetFile: this.outboxOffsetFile,
        backoffBaseMs: this.config.OUTBOX_BACKOFF_BASE_MS,
        backoffMaxMs: this.config.OUTBOX_BACKOFF_MAX_MS,
        logLevel: this.log.level,
      },
      onFlush: (flush) => {
        this.metrics.latency.fdatasync.record(flush.fdatasyncUs)
        this.announceDurable(flush.lastSeq, flush.durableAt)
      },
      onWarning: (message) => {
        this.walWarning = message
        this.log.warn(message)
      },
    })
    const journal: Journal = {
      append: (type, data) => {
        const appended = this.wal.append(type, data)
        this.lastAppend = appended
        return {seq: appended.seq}
      },
    }
    this.engine = new OrderEngine(
      {
        symbols: parseSymbolList(this.config.SYMBOLS),
        maxSymbols: this.config.MAX_SYMBOLS,
        maxOrderQty: this.config.MAX_ORDER_QTY,
        maxNotional: this.config.MAX_NOTIONAL,
        queueCapacity: this.config.QUEUE_CAPACITY,
      },
      journal,
      (event) => this.onEngineEvent(event),
    )
    const records = this.wal.records()
    for (const record of records) {
      this.engine.replay({seq: record.seq, type: record.type, data: record.data as Record<string, unknown>})
    }
    // Numbers up to the reservation may have been answered 202 before a crash lost their record.
    const next = Math.max(this.engine.nextOrderNumber, this.ids.reservedThrough + 1)
    await this.ids.reserve(next - 1 + this.ids.block)
    this.engine.number(next, this.ids.reservedThrough)
    if (records.length > 0) {
      this.log.info(
        {records: records.length, orders: this.engine.size, ms: Math.round(performance.now() - started)},
        'replayed the WAL',
      )
    }
  }

  get orders(): number {
    return this.engine.size
  }

  get queueLength(): number {
    return this.engine.queueLength
  }

  get inflight(): number {
    return this.wal.pendingRecords
  }

  walAgeMs(): number {
    return this.wal.oldestPendingAgeMs()
  }

  /** Orders made durable per second (EWMA). */
  get durableCommitRate(): number {
    return this.durableRate.value
  }

  /** Soft backpressure refusals per second (EWMA). */
  get softRejectsPerSec(): number {
    return this.softRejectRate.value
  }

  /**
   * The outbox as its thread last reported it (at most ~100 ms old), with the lag counted
   * against the WAL's durable size now.
   */
  outboxStatus(): WalOutboxStatus {
    const status = this.wal.outboxStatus() ?? {
      connected: false,
      offset: 0,
      seq: 0,
      lagBytes: 0,
      backoffMs: 0,
      read: 0,
      published: 0,
      skipped: 0,
      errors: 0,
      offsetResets: 0,
      lastError: null,
    }
    return {...status, lagBytes: Math.max(0, this.wal.sizeBytes - status.offset)}
  }

  /** GET /stats: the seed's RouterStats keys (see stats.ts). */
  stats(): SeedStats {
    return seedStats({
      tally: this.tally,
      processed: this.engine.processed,
      publish: this.publishLatency,
      process: this.metrics.latency.fast_path_processing,
      durableAck: this.metrics.latency.durable_ack,
      fdatasync: this.metrics.latency.fdatasync,
      walPending: this.wal.pendingRecords,
      outbox: this.outboxStatus(),
    })
  }

  /**
   * POST /events: the seed's canary ingress. The event is keyed by symbol and rides the fast-path
   * queue as a probe (queued, drained, timed, counted in /stats); it is not an order, so it reaches
   * no book, WAL, stream or broker. Probes share one token bucket, so they cannot crowd out orders.
   */
  probe(key: string, receivedAt: number): ProbeOutcome {
    const refused = this.engine.symbolRefusal(key)
    if (refused !== undefined)
      return {kind: 'rejected', status: 422, reason: 'INVALID_SYMBOL', message: refused}
    const limited = this.rateLimit(probeBucket)
    if (limited)
      return {
        ...limited,
        message: `POST /events is over its ${this.config.RATE_LIMIT_PER_SEC} events/s (burst ${this.config.RATE_LIMIT_BURST}); slow down`,
      }
    const outcome = this.engine.probe()
    if (outcome.kind === 'rejected') {
      this.tally.queueFull++
      return outcome
    }
    this.publishLatency.record((performance.now() - receivedAt) * 1000)
    this.scheduleDrain()
    return outcome
  }

  lookup(accountId: string, idempotencyKey: string): Order | undefined {
    return this.engine.lookup(accountId, idempotencyKey)
  }

  /**
   * The fast path after authentication: an idempotent replay, else the rate limit and the
   * backpressure limits, else the engine (validation, risk, queue, WAL append).
   */
  place(accountId: string, idempotencyKey: string, request: OrderRequest, receivedAt: number): PlaceOutcome {
    const known = this.engine.lookup(accountId, idempotencyKey)
    if (known) {
      this.metrics.idempotencyHits.inc()
      return {kind: 'replayed', order: known}
    }
    this.metrics.idempotencyMisses.inc()
    const refused = this.rateLimit(accountId) ?? this.backpressure()
    if (refused) return this.rejected(refused, accountId, request)
    if (this.wal.lastError) {
      return this.rejected(
        {
          kind: 'rejected',
          status: 503,
          reason: 'WAL_UNAVAILABLE',
          message: 'the WAL cannot be written, so no order can be made durable; see /health',
        },
        accountId,
        request,
      )
    }
    const outcome = this.engine.accept(accountId, idempotencyKey, request)
    if (outcome.kind !== 'accepted')
      return outcome.kind === 'rejected' ? this.rejected(outcome, accountId, request) : outcome
    const appended = this.lastAppend as WalAppend
    const order = outcome.order
    this.ids.topUp(this.engine.nextOrderNumber, this.idsReserved)
    this.metrics.accepted.inc()
    this.tally.accepted++
    // The WAL append and the enqueue are one synchronous step: one figure for both.
    const enqueuedUs = (appended.enqueuedAt - receivedAt) * 1000
    this.metrics.latency.wal_enqueue.record(enqueuedUs)
    this.publishLatency.record(enqueuedUs)
    this.pending.push({seq: appended.seq, order, receivedAt})
    this.drainAccepted()
    return outcome
  }

  /** AUDIT_ASYNC_WAL=false: the 202 waits for this (the order's fdatasync). */
  get syncWal(): boolean {
    return !this.config.AUDIT_ASYNC_WAL
  }

  whenDurable(order: Order): Promise<unknown> {
    return this.wal.whenDurable(order.acceptSeq)
  }

  cancel(accountId: string, orderId: string): CancelOutcome {
    const outcome = this.engine.cancel(accountId, orderId)
    if (outcome.kind === 'requested') this.scheduleDrain()
    return outcome
  }

  /** The account's own order; another account's is as unknown as a missing one. */
  order(accountId: string, orderId: string): Order | undefined {
    const order = this.engine.get(orderId)
    return order && order.accountId === accountId ? order : undefined
  }

  clientOrderStatus(
    accountId: string,
    clientOrderId: string,
  ): {
    clientOrderId: string
    orderId?: string
    status: 'PENDING' | 'DURABLE' | 'REJECTED' | 'UNKNOWN'
    reason?: string
  } {
    const order = this.engine.byClientOrderId(accountId, clientOrderId)
    if (order) return {clientOrderId, orderId: order.orderId, status: order.durable ? 'DURABLE' : 'PENDING'}
    const reason = this.rejectedClientIds.get(`${accountId}\u0000${clientOrderId}`)
    return reason === undefined
      ? {clientOrderId, status: 'UNKNOWN'}
      : {clientOrderId, status: 'REJECTED', reason}
  }

  /** Buffered events of one order, and whether the buffer still reaches back to its acceptance. */
  orderEvents(order: Order): {events: GatewayEvent[]; complete: boolean} {
    const events = this.ring.list((e) => e.orderId === order.orderId, Number.POSITIVE_INFINITY)
    return {events, complete: events[0]?.type === 'order_accepted'}
  }

  accountEvents(accountId: string, limit: number, after?: string): GatewayEvent[] {
    return this.ring.list((e) => e.accountId === accountId, limit, after)
  }

  /** After attaching a stream: what a reconnecting client missed, or `resync_required`. */
  catchUp(client: SseClient<StreamFilter>): void {
    const match = (event: GatewayEvent) => matches(client.filter, event)
    if (client.lastEventId === undefined) {
      // An order's stream starts with that order's history, so subscribing after POST misses nothing.
      if (client.filter.orderId === undefined) return
      for (const event of this.ring.list(match, Number.POSITIVE_INFINITY)) {
        this.hub.send(client, event.type, toWire(event), event.id)
      }
      return
    }
    const replay = this.ring.since(client.lastEventId, match)
    if (replay.kind === 'resync') {
      // Its id is the newest event's, so a client that reconnects after resyncing misses nothing new.
      this.hub.send(
        client,
        RESYNC_EVENT,
        {lastEventId: client.lastEventId, reason: replay.reason},
        this.ring.latestId(),
      )
      return
    }
    for (const event of replay.events) this.hub.send(client, event.type, toWire(event), event.id)
  }

  anchor() {
    return this.wal.anchor()
  }

  async verify(options: {fromSeq?: number; limit?: number}) {
    return this.wal.verify(options)
  }

  health(): {status: HealthStatus; problems: string[]; [key: string]: unknown} {
    const problems: string[] = []
    let status: HealthStatus = 'healthy'
    const outbox = this.outboxStatus()
    const walError = this.wal.lastError
    if (walError) {
      status = 'unhealthy'
      problems.push(walError.message)
    }
    const idsError = this.ids.lastError
    if (!walError && idsError) {
      status = 'degraded'
      problems.push(`cannot reserve order ids in ${this.ids.file}: ${idsError.message}`)
    }
    if (status === 'healthy') {
      // Refusing new orders for lack of disk is the limit doing its job: reads and streams still work.
      const minFree = this.config.BACKPRESSURE_DISK_FREE_PCT_MIN
      if (minFree !== undefined && this.diskFreePct < minFree) {
        status = 'degraded'
        problems.push(`the WAL's disk has ${this.diskFreePct.toFixed(1)}% free, under the ${minFree}% limit`)
      } else if (!outbox.connected && outbox.lagBytes > 0) {
        status = 'degraded'
        problems.push(`RabbitMQ is unreachable; ${outbox.lagBytes} WAL bytes wait to be published`)
      } else if (outbox.lagBytes > degradedLagBytes) {
        status = 'degraded'
        problems.push(`the outbox is ${outbox.lagBytes} WAL bytes behind`)
      }
    }
    const anchor = this.wal.anchor()
    return {
      status,
      problems,
      orders: this.engine.size,
      queueLen: this.engine.queueLength,
      wal: {
        file: this.walFile,
        durableSeq: anchor.seq,
        inflight: this.wal.pendingRecords,
        ageMs: Math.round(this.wal.oldestPendingAgeMs()),
        sizeBytes: this.wal.sizeBytes,
        error: walError?.message ?? null,
        warning: this.walWarning,
        mode: this.config.AUDIT_ASYNC_WAL ? 'async' : 'sync',
      },
      orderIds: {next: this.engine.nextOrderNumber, reservedThrough: this.ids.reservedThrough},
      outbox,
      diskFreePct: Math.round(this.diskFreePct * 10) / 10,
      sse: this.hub.stats(),
    }
  }

  /** Empties the WAL, the outbox position, the orders and the event buffer (poc reset --gateway). */
  async reset(): Promise<void> {
    // Closing the WAL stops its thread and the outbox on it; the new WAL starts both again.
    await this.wal.close()
    await rm(this.walFile, {force: true})
    await resetOutboxOffset(this.outboxOffsetFile)
    this.rejectedClientIds.clear()
    this.buckets.clear()
    this.ring.clear()
    this.walWarning = null
    this.pending = []
    this.pendingHead = 0
    for (const histogram of Object.values(this.metrics.latency)) histogram.reset()
    this.publishLatency.reset()
    this.tally = newTally()
    this.durableRate.reset()
    this.softRejectRate.reset()
    await this.openLog()
    // Open streams hold orders that no longer exist: tell them to start over.
    this.hub.broadcast(RESYNC_EVENT, {reason: 'the gateway was reset'}, undefined, this.ring.latestId())
    this.log.info('reset: WAL, audit chain, outbox offset and orders emptied')
  }

  /** Flushes the WAL (every accepted order becomes durable) and stops the outbox. */
  async close(): Promise<void> {
    clearInterval(this.diskTimer)
    clearInterval(this.ewmaTimer)
    this.hub.close()
    this.engine.drain()
    await this.wal.close()
  }

  private rateLimit(accountId: string): Rejection | undefined {
    const now = performance.now()
    const rate = this.config.RATE_LIMIT_PER_SEC
    const burst = this.config.RATE_LIMIT_BURST
    let bucket = this.buckets.get(accountId)
    if (!bucket) this.buckets.set(accountId, (bucket = {tokens: burst, refilledAt: now}))
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * rate)
    bucket.refilledAt = now
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return undefined
    }
    return {
      kind: 'rejected',
      status: 429,
      reason: 'RATE_LIMITED',
      message: `account ${accountId} is over its ${rate} orders/s (burst ${burst}); slow down`,
      retryAfterSec: Math.max(1, Math.ceil((1 - bucket.tokens) / rate)),
    }
  }

  private backpressure(): Rejection | undefined {
    const c = this.config
    const refuse = (status: 429 | 503, reason: BackpressureReason, message: string): Rejection => {
      this.metrics.backpressure[reason].inc()
      return {kind: 'rejected', status, reason, message, retryAfterSec: 1}
    }
    if (c.BACKPRESSURE_INFLIGHT_MAX !== undefined && this.wal.pendingRecords >= c.BACKPRESSURE_INFLIGHT_MAX) {
      return refuse(
        503,
        'BACKPRESSURE_INFLIGHT',
        `${this.wal.pendingRecords} orders are waiting to be made durable (limit ${c.BACKPRESSURE_INFLIGHT_MAX})`,
      )
    }
    if (c.BACKPRESSURE_WAL_BYTES_MAX !== undefined && this.wal.pendingBytes >= c.BACKPRESSURE_WAL_BYTES_MAX) {
      return refuse(
        503,
        'BACKPRESSURE_WAL_BYTES',
        `${this.wal.pendingBytes} WAL bytes are waiting for fdatasync (limit ${c.BACKPRESSURE_WAL_BYTES_MAX})`,
      )
    }
    if (c.BACKPRESSURE_WAL_AGE_MS_MAX !== undefined || c.BACKPRESSURE_SOFT_WAL_AGE_MS_MAX !== undefined) {
      const age = this.wal.oldestPendingAgeMs()
      if (c.BACKPRESSURE_WAL_AGE_MS_MAX !== undefined && age >= c.BACKPRESSURE_WAL_AGE_MS_MAX) {
        return refuse(
          503,
          'BACKPRESSURE_WAL_AGE',
          `the oldest order not yet durable waited ${Math.round(age)} ms (limit ${c.BACKPRESSURE_WAL_AGE_MS_MAX})`,
        )
      }
      if (c.BACKPRESSURE_SOFT_WAL_AGE_MS_MAX !== undefined && age >= c.BACKPRESSURE_SOFT_WAL_AGE_MS_MAX) {
        return refuse(
          429,
          'BACKPRESSURE_SOFT_WAL_AGE',
          `the oldest order not yet durable waited ${Math.round(age)} ms (soft limit ${c.BACKPRESSURE_SOFT_WAL_AGE_MS_MAX}); retry shortly`,
        )
      }
    }
    if (
      c.BACKPRESSURE_DISK_FREE_PCT_MIN !== undefined &&
      this.diskFreePct < c.BACKPRESSURE_DISK_FREE_PCT_MIN
    ) {
      return refuse(
        503,
        'BACKPRESSURE_DISK_FREE',
        `the WAL's disk has ${this.diskFreePct.toFixed(1)}% free (limit ${c.BACKPRESSURE_DISK_FREE_PCT_MIN}%)`,
      )
    }
    return undefined
  }

  /** Counts the refusal and remembers its clientOrderId, so `GET /orders/client/:id` can say REJECTED. */
  private rejected<T extends Rejection>(outcome: T, accountId: string, request: OrderRequest): T {
    this.metrics.rejects.inc({reason: outcome.reason})
    this.metrics.seedRejects[outcome.reason]?.inc()
    if (outcome.reason === 'QUEUE_REJECT') this.tally.queueFull++
    else if (outcome.reason === 'WAL_UNAVAILABLE') this.tally.walUnavailable++
    else if (outcome.reason.startsWith('BACKPRESSURE_')) {
      this.tally.backpressure++
      if (outcome.reason.startsWith('BACKPRESSURE_SOFT_')) this.softRejectRate.add()
    }
    const clientOrderId = request.clientOrderId
    if (clientOrderId === undefined) return outcome
    if (this.rejectedClientIds.size >= rejectMemory) {
      const oldest = this.rejectedClientIds.keys().next().value
      if (oldest !== undefined) this.rejectedClientIds.delete(oldest)
    }
    this.rejectedClientIds.set(`${accountId}\u0000${clientOrderId}`, outcome.reason)
    return outcome
  }

  /** order_durable for every accepted order up to `lastSeq`, which a group commit just made durable. */
  private announceDurable(lastSeq: number, durableAt: number): void {
    const pending = this.pending
    let head = this.pendingHead
    while (head < pending.length && (pending[head] as {seq: number}).seq <= lastSeq) {
      const {order, receivedAt} = pending[head++] as {order: Order; receivedAt: number}
      order.durable = true
      this.durableRate.add()
      this.metrics.latency.durable_ack.record((durableAt - receivedAt) * 1000)
      this.publish('order_durable', order, {
        orderId: order.orderId,
        acceptSeq: order.acceptSeq,
        clientOrderId: order.clientOrderId,
        idempotencyKey: order.idempotencyKey,
        status: order.status,
      })
    }
    if (head === pending.length) {
      this.pending = []
      this.pendingHead = 0
    } else {
      this.pendingHead = head
    }
  }

  /**
   * An accepted order is matched at once, before its 202 is written: matching one order takes a
   * few µs, writing the answer (a socket write) tens of µs, so the order no longer waits in the
   * queue for its own answer to go out. Behind a backlog (a burst drained a batch per turn) it
   * keeps its place in line instead.
   */
  private drainAccepted(): void {
    if (this.drainScheduled || !this.config.FASTPATH_DRAIN_ENABLE) return
    this.drainScheduled = true
    this.drainNow()
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || !this.config.FASTPATH_DRAIN_ENABLE) return
    this.drainScheduled = true
    // A microtask runs as soon as the request's callback returns, after its answer is written;
    // matching never waits for the next event-loop turn.
    queueMicrotask(this.drainNow)
  }

  private readonly drainNow = (): void => {
    for (const us of this.engine.drain(drainBatch)) this.metrics.latency.fast_path_processing.record(us)
    // What a burst left over waits for the next turn, so requests are read in between.
    if (this.engine.queueLength > 0) setImmediate(this.drainNow)
    else this.drainScheduled = false
  }

  private onEngineEvent(event: EngineEvent): void {
    const order = event.order
    if (event.type === 'order_accepted') {
      this.publish('order_accepted', order, {
        orderId: order.orderId,
        acceptSeq: order.acceptSeq,
        clientOrderId: order.clientOrderId,
        idempotencyKey: order.idempotencyKey,
        symbol: order.symbol,
        side: order.side,
        orderType: order.type,
        qty: order.qty,
        price: order.price,
        status: order.status,
        acceptedAt: order.acceptedAt,
      })
    } else {
      this.publish('order_update', order, {
        orderId: order.orderId,
        status: order.status,
        filledQty: order.filledQty,
        fill: event.fill,
      })
    }
  }

  private publish(type: GatewayEventType, order: Order, data: Record<string, unknown>): void {
    const event = this.ring.push(type, order.accountId, order.orderId, data)
    if (this.hub.size === 0) return
    this.hub.broadcast(type, toWire(event), (client) => matches(client.filter, event), event.id)
  }

  private async checkDisk(): Promise<void> {
    try {
      const stats = await statfs(path.dirname(this.walFile))
      this.diskFreePct = stats.blocks > 0 ? (stats.bavail / stats.blocks) * 100 : 100
    } catch (error) {
      this.log.warn({err: (error as Error).message}, 'cannot read the free space of the WAL disk')
    }
  }
}

function newTally(): StatsTally {
  return {accepted: 0, queueFull: 0, backpressure: 0, walUnavailable: 0}
}

function matches(filter: StreamFilter, event: GatewayEvent): boolean {
  return (
    event.accountId === filter.accountId && (filter.orderId === undefined || filter.orderId === event.orderId)
  )
}

/** What a client sees of an event: its own data plus the event's id and time. */
export function toWire(event: GatewayEvent): Record<string, unknown> {
  return {eventId: event.id, type: event.type, at: event.at, ...event.data}
}
