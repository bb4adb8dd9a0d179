/**
 * The gateway's recent events, kept for SSE `Last-Event-ID` replay and the events endpoints.
 * Ids are `<boot>-<n>`: n counts up within one process, and the boot part changes on every
 * start, so an id from before a restart is recognised as such (its events are gone) rather
 * than mistaken for a position in the new sequence.
 */

import {RESYNC_EVENT} from '../shared/sse.js'

export const gatewayEventTypes = ['order_accepted', 'order_durable', 'order_update'] as const
export type GatewayEventType = (typeof gatewayEventTypes)[number]

/** Every event type `GET /stream` and `/orders/:id/stream` send, each a named event. */
export const gatewayStreamEvents = [...gatewayEventTypes, RESYNC_EVENT] as const

export interface GatewayEvent {
  id: string
  type: GatewayEventType
  accountId: string
  orderId: string
  at: string
  data: Record<string, unknown>
}

export type Replay = {kind: 'events'; events: GatewayEvent[]} | {kind: 'resync'; reason: string}

export class EventRing {
  private readonly slots: (GatewayEvent | undefined)[]
  /** n of the next event; the ring holds n in [max(1, next - capacity), next). */
  private next = 1
  /** No event before this n is held (it moves on clear()). */
  private floor = 1
  // Thousands of events share a millisecond; formatting the time once per millisecond is cheaper.
  private isoMs = -1
  private iso = ''

  constructor(
    private readonly capacity: number,
    private readonly boot: string = Date.now().toString(36),
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be ≥ 1')
    this.slots = new Array<GatewayEvent | undefined>(capacity)
  }

  push(
    type: GatewayEventType,
    accountId: string,
    orderId: string,
    data: Record<string, unknown>,
  ): GatewayEvent {
    const n = this.next++
    const now = Date.now()
    if (now !== this.isoMs) {
      this.isoMs = now
      this.iso = new Date(now).toISOString()
    }
    const event: GatewayEvent = {id: `${this.boot}-${n}`, type, accountId, orderId, at: this.iso, data}
    this.slots[n % this.capacity] = event
    return event
  }

  /** The id of the newest event (or of none yet): where a client resumes after resyncing. */
  latestId(): string {
    return `${this.boot}-${this.next - 1}`
  }

  /** The oldest n still held. */
  private get oldest(): number {
    return Math.max(this.floor, this.next - this.capacity)
  }

  /**
   * The events after `lastEventId` that match, or why they cannot be replayed: an id from
   * another run of the gateway, one that is not ours, or one whose successors were overwritten.
   */
  since(lastEventId: string, match: (event: GatewayEvent) => boolean): Replay {
    const dash = lastEventId.lastIndexOf('-')
    const n = Number(lastEventId.slice(dash + 1))
    if (dash < 0 || !Number.isInteger(n) || n < 0) {
      return {kind: 'resync', reason: `Last-Event-ID ${lastEventId} is not an event id of this gateway`}
    }
    if (lastEventId.slice(0, dash) !== this.boot) {
      return {kind: 'resync', reason: 'the gateway restarted since that event; fetch the orders again'}
    }
    if (n >= this.next) {
      return {kind: 'resync', reason: `Last-Event-ID ${lastEventId} is ahead of the newest event`}
    }
    if (n + 1 < this.oldest) {
      return {
        kind: 'resync',
        reason: `events after ${lastEventId} are no longer buffered; fetch the orders again`,
      }
    }
    return {kind: 'events', events: this.collect(n + 1, match, Number.POSITIVE_INFINITY)}
  }

  /** Matching events still held, oldest first, starting after `afterId` when given. */
  list(match: (event: GatewayEvent) => boolean, limit: number, afterId?: string): GatewayEvent[] {
    let from = this.oldest
    if (afterId !== undefined) {
      const dash = afterId.lastIndexOf('-')
      const n = Number(afterId.slice(dash + 1))
      if (afterId.slice(0, dash) === this.boot && Number.isInteger(n)) from = Math.max(from, n + 1)
    }
    return this.collect(from, match, limit)
  }

  /** Forgets every event; later ids keep counting, so no id is ever reused within a run. */
  clear(): void {
    this.slots.fill(undefined)
    this.floor = this.next
  }

  private collect(from: number, match: (event: GatewayEvent) => boolean, limit: number): GatewayEvent[] {
    const events: GatewayEvent[] = []
    for (let n = from; n < this.next && events.length < limit; n++) {
      const event = this.slots[n % this.capacity]
      if (event && match(event)) events.push(event)
    }
    return events
  }
}
