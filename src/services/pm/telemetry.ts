import {appendFile, mkdir, readFile, rename, stat} from 'node:fs/promises'
import path from 'node:path'
import {z} from 'zod'
import {HttpError} from '../shared/http.js'
import {DetailPathError, evaluateDetailPath} from './detail-path.js'
import {parseInput} from '../shared/input.js'
import {
  type TelemetryEvent,
  type TelemetryHealth,
  normaliseLevel,
  telemetryInput,
} from '../../contract/telemetry.js'

const sortKeys = ['receivedAt', 'timestamp', 'component', 'event', 'level', 'origin'] as const

export const telemetryQuery = z.object({
  component: z.string().optional(),
  event: z.string().optional(),
  // The names a sender may use select what they were stored as: ?level=warning finds warn.
  level: z
    .string()
    .optional()
    .transform((name) => (name === undefined ? undefined : (normaliseLevel(name) ?? name))),
  origin: z.string().optional(),
  detail: z.string().optional(),
  detail_path: z.string().optional(),
  since: z.string().datetime({offset: true}).optional(),
  until: z.string().datetime({offset: true}).optional(),
  sort: z.enum(sortKeys).default('receivedAt'),
  order: z.enum(['asc', 'desc']).default('desc'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
})
export type TelemetryQuery = z.infer<typeof telemetryQuery>

export interface TelemetryReplay {
  resync?: {lastEventId: number; reason: string}
  events: TelemetryEvent[]
}

export interface TelemetryOptions {
  logPath: string
  maxLogBytes: number
  maxArchives: number
  keep?: number
  /** Told when a listener throws; the event is recorded and the POST answered anyway. */
  onListenerError?: (error: unknown) => void
}

export class TelemetryStore {
  private readonly events: TelemetryEvent[] = []
  private readonly keep: number
  private nextId = 1
  /** The highest id no longer kept in memory: resuming from before it misses events. */
  private evictedUpTo = 0
  private writing = Promise.resolve()
  private readonly listeners = new Set<(event: TelemetryEvent) => void>()

  constructor(private readonly options: TelemetryOptions) {
    this.keep = options.keep ?? 200
  }

  /**
   * Reload the newest events from the log, and its newest archive when a rotation left the log
   * short, so a restart keeps the recent history and ids go on from the highest ever given:
   * a client resuming with Last-Event-ID after the restart then neither misses nor repeats one.
   */
  async load(): Promise<void> {
    const {logPath, maxArchives} = this.options
    const files = [logPath, ...Array.from({length: maxArchives}, (_, i) => `${logPath}.${i + 1}`)]
    const newestFirst: TelemetryEvent[][] = []
    let wanted = this.keep
    let older = false
    let read = 0
    for (const file of files) {
      read++
      const {events, more} = newestEvents(await readOptional(file), wanted)
      if (events.length > 0) newestFirst.push(events)
      wanted -= events.length
      older = more
      if (wanted === 0) break
    }
    if (wanted === 0 && !older) {
      for (const file of files.slice(read)) {
        older = newestEvents(await readOptional(file), 1).events.length > 0
        if (older) break
      }
    }
    for (const event of newestFirst.reverse().flat()) this.remember(event)
    const oldest = this.events[0]
    // Events older than those read existed; a client that last saw one of them has lost some.
    if (older && oldest) this.evictedUpTo = Math.max(this.evictedUpTo, oldest.id - 1)
    this.nextId = Math.max(0, ...this.events.map((e) => e.id)) + 1
  }

  /** How many events are kept in memory now. */
  get size(): number {
    return this.events.length
  }

  async record(input: unknown, now = new Date(), sender: {ip?: string} = {}): Promise<TelemetryEvent> {
    const data = parseInput(telemetryInput, input)
    const event: TelemetryEvent = {id: this.nextId++, ...data, receivedAt: now.toISOString()}
    if (sender.ip !== undefined) event.ip = sender.ip
    // Kept and pushed only once it is in the log, one event at a time in id order: a stream
    // that replays what is kept and then follows the pushes can neither miss nor repeat one.
    const stored = this.writing.then(async () => {
      await this.append(event)
      this.remember(event)
      // A subscriber (a stream's filter) failing is the subscriber's problem, never the sender's.
      for (const listener of this.listeners) {
        try {
          listener(event)
        } catch (error) {
          this.options.onListenerError?.(error)
        }
      }
    })
    // One failed append must not fail every later event.
    this.writing = stored.catch(() => undefined)
    await stored
    return event
  }

  onEvent(listener: (event: TelemetryEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  query(raw: Record<string, unknown>): {
    items: TelemetryEvent[]
    total: number
    limit: number
    offset: number
    sort: string
    order: string
  } {
    const query = parseQuery(raw)
    const matching = this.events.filter((e) => matches(e, query))
    const direction = query.order === 'asc' ? 1 : -1
    matching.sort((a, b) => direction * compare(a[query.sort], b[query.sort]) || direction * (a.id - b.id))
    return {
      items: matching.slice(query.offset, query.offset + query.limit),
      total: matching.length,
      limit: query.limit,
      offset: query.offset,
      sort: query.sort,
      order: query.order,
    }
  }

  /**
   * `GET /health/telemetry` as the seed's pm-service answers it and its scripts read it: `ok`
   * while a seeded sample event is among the kept ones, else `empty`. The times are the events'
   * own timestamps (when they say none, when pm received them). pm has no host fallback, so
   * `fallbackActive` is always false.
   */
  health(): TelemetryHealth {
    const seeded = this.events.filter(isSeeded)
    const status = seeded.length > 0 ? 'ok' : 'empty'
    const at = (event: TelemetryEvent | undefined) => (event ? (event.timestamp ?? event.receivedAt) : null)
    return {
      status,
      message: status === 'ok' ? 'telemetry events available' : 'no seeded telemetry events recorded',
      events: {
        total: this.events.length,
        seeded: seeded.length,
        lastEventAt: at(this.events.at(-1)),
        lastSeededAt: at(seeded.at(-1)),
      },
      fallbackActive: false,
    }
  }

  /**
   * What a client that last saw `lastEventId` missed, oldest first, among the kept events that
   * match `query`; `resync` when some of it is no longer kept, or when the id is one this pm
   * never gave (its log was removed), so the client knows the replay is not complete.
   */
  replay(lastEventId: number, query: Partial<TelemetryQuery>): TelemetryReplay {
    const kept = (after: number) => this.events.filter((e) => e.id > after && matches(e, query))
    if (lastEventId >= this.nextId) {
      const reason = `no event with id ${lastEventId} was ever recorded by this pm (was its log removed?)`
      return {resync: {lastEventId, reason}, events: kept(0)}
    }
    if (lastEventId < this.evictedUpTo) {
      const reason = `events up to id ${this.evictedUpTo} are no longer kept (pm keeps the last ${this.keep})`
      return {resync: {lastEventId, reason}, events: kept(lastEventId)}
    }
    return {events: kept(lastEventId)}
  }

  private remember(event: TelemetryEvent): void {
    this.events.push(event)
    if (this.events.length > this.keep) {
      for (const evicted of this.events.splice(0, this.events.length - this.keep))
        this.evictedUpTo = Math.max(this.evictedUpTo, evicted.id)
    }
  }

  private async append(event: TelemetryEvent): Promise<void> {
    const {logPath, maxLogBytes, maxArchives} = this.options
    await mkdir(path.dirname(logPath), {recursive: true})
    const size = await stat(logPath).then(
      (s) => s.size,
      () => 0,
    )
    if (size > 0 && size >= maxLogBytes) {
      // telemetry.log → .1 → .2 …; the oldest archive falls off.
      for (let i = maxArchives - 1; i >= 1; i--)
        await rename(`${logPath}.${i}`, `${logPath}.${i + 1}`).catch(() => undefined)
      if (maxArchives > 0) await rename(logPath, `${logPath}.1`)
    }
    await appendFile(logPath, `${JSON.stringify(event)}\n`)
  }
}

/** A sample event pm seeded itself, as the seed marks them (and its scripts count them). */
export function isSeeded(event: TelemetryEvent): boolean {
  const detail = event.detail
  return typeof detail === 'object' && detail !== null && (detail as {seeded?: unknown}).seeded === true
}

export const seededSender = 'seed::pm'

const telemetrySamples = z.array(
  z.object({
    component: z.string(),
    event: z.string(),
    level: z.string().optional(),
    origin: z.string().optional(),
    detail: z.record(z.string(), z.unknown()).optional(),
  }),
)

/**
 * The seed's start-up sample events: when pm starts with no telemetry at all (a new stack, or
 * its log removed), it records the samples of `file` with `detail.seeded: true`, from the sender
 * `seed::pm`, their timestamps 1.5 s apart up to now, so that a fresh stack's telemetry view,
 * dashboards and the seed's checks (≥5 seeded events) have something to show. Never over events
 * that are already there: a restart keeps what was there and adds none.
 */
export async function seedTelemetry(store: TelemetryStore, file: string, now = new Date()): Promise<number> {
  if (store.size > 0) return 0
  const samples = telemetrySamples.parse(JSON.parse(await readFile(file, 'utf8')))
  for (const [i, sample] of samples.entries()) {
    const timestamp = new Date(now.getTime() - (samples.length - i) * 1500).toISOString()
    await store.record({...sample, timestamp, detail: {...sample.detail, seeded: true}}, now, {
      ip: seededSender,
    })
  }
  return samples.length
}

export function parseQuery(raw: Record<string, unknown>): TelemetryQuery {
  const query = parseInput(telemetryQuery, raw)
  if (query.detail_path !== undefined) {
    try {
      evaluateDetailPath(query.detail_path, {})
    } catch (error) {
      if (error instanceof DetailPathError) {
        throw new HttpError(400, 'validation_failed', error.message, {field: 'detail_path'})
      }
      throw error
    }
  }
  return query
}

/** Where a stream client resumes: the id of the last event it saw, if it says one. */
export function parseLastEventId(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined
  const id = typeof value === 'string' && /^\d{1,15}$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(id)) {
    throw new HttpError(
      400,
      'validation_failed',
      `lastEventId: expected an event id (a whole number), got ${JSON.stringify(value)}`,
      {
        field: 'lastEventId',
      },
    )
  }
  return id
}

/** The filters of SPEC §4.1; also used by the telemetry SSE stream. */
export function matches(event: TelemetryEvent, query: Partial<TelemetryQuery>): boolean {
  if (query.component !== undefined && event.component !== query.component) return false
  if (query.event !== undefined && event.event !== query.event) return false
  if (query.level !== undefined && event.level !== query.level) return false
  if (query.origin !== undefined && event.origin !== query.origin) return false
  if (query.detail !== undefined && !JSON.stringify(event.detail ?? null).includes(query.detail)) return false
  if (query.detail_path !== undefined && evaluateDetailPath(query.detail_path, event).length === 0)
    return false
  if (query.since !== undefined && Date.parse(event.receivedAt) < Date.parse(query.since)) return false
  if (query.until !== undefined && Date.parse(event.receivedAt) > Date.parse(query.until)) return false
  return true
}

async function readOptional(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''
    throw error
  }
}

/** The last `wanted` events of a log, and whether it holds more before them. */
function newestEvents(text: string, wanted: number): {events: TelemetryEvent[]; more: boolean} {
  const lines = text.split('\n')
  const events: TelemetryEvent[] = []
  let i = lines.length - 1
  for (; i >= 0 && events.length < wanted; i--) {
    const line = lines[i] as string
    if (line.trim() === '') continue
    try {
      const event = JSON.parse(line) as TelemetryEvent
      if (typeof event.id === 'number' && typeof event.component === 'string') events.push(event)
    } catch {
      // A line torn by a crash is skipped; the rest of the log is still good.
    }
  }
  return {events: events.reverse(), more: lines.slice(0, i + 1).some((line) => line.trim() !== '')}
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0
  if (a === undefined) return -1
  if (b === undefined) return 1
  return String(a) < String(b) ? -1 : 1
}
