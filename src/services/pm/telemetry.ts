import {appendFile, mkdir, readFile, rename, stat} from 'node:fs/promises'
import path from 'node:path'
import {z} from 'zod'
import {HttpError} from '../shared/http.js'
import {DetailPathError, evaluateDetailPath} from './detail-path.js'
import {parseInput} from '../shared/input.js'

/**
 * UI and server telemetry (SPEC §4.1): the last 200 events in memory, every event appended
 * as a JSON line to the telemetry log, which rotates above a size keeping a few archives.
 */
export const telemetryInput = z.object({
  component: z.string().trim().min(1).max(200),
  event: z.string().trim().min(1).max(200),
  level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  origin: z.string().trim().min(1).max(100).default('client'),
  detail: z.unknown().optional(),
  timestamp: z.string().datetime({offset: true}).optional(),
})
export type TelemetryInput = z.input<typeof telemetryInput>

export interface TelemetryEvent {
  id: number
  component: string
  event: string
  level: string
  origin: string
  detail?: unknown
  timestamp?: string
  receivedAt: string
}

const sortKeys = ['receivedAt', 'timestamp', 'component', 'event', 'level', 'origin'] as const

export const telemetryQuery = z.object({
  component: z.string().optional(),
  event: z.string().optional(),
  level: z.string().optional(),
  origin: z.string().optional(),
  detail: z.string().optional(),
  detail_path: z.string().optional(),
  since: z.string().datetime({offset: true}).optional(),
  until: z.string().datetime({offset: true}).optional(),
  sort: z.enum(sortKeys).default('receivedAt'),
  order: z.enum(['asc', 'desc']).default('desc'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
})
export type TelemetryQuery = z.infer<typeof telemetryQuery>

export interface TelemetryOptions {
  logPath: string
  maxLogBytes: number
  maxArchives: number
  keep?: number
}

export class TelemetryStore {
  private readonly events: TelemetryEvent[] = []
  private readonly keep: number
  private nextId = 1
  private writing = Promise.resolve()
  private readonly listeners = new Set<(event: TelemetryEvent) => void>()

  constructor(private readonly options: TelemetryOptions) {
    this.keep = options.keep ?? 200
  }

  /** Reload the newest events from the current log, so a restart keeps the recent history. */
  async load(): Promise<void> {
    let text = ''
    try {
      text = await readFile(this.options.logPath, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    for (const line of text.split('\n').slice(-this.keep - 1)) {
      if (line.trim() === '') continue
      try {
        const event = JSON.parse(line) as TelemetryEvent
        if (typeof event.id === 'number' && typeof event.component === 'string') this.remember(event)
      } catch {
        // A line torn by a crash is skipped; the rest of the log is still good.
      }
    }
    this.nextId = Math.max(0, ...this.events.map((e) => e.id)) + 1
  }

  async record(input: unknown, now = new Date()): Promise<TelemetryEvent> {
    const data = parseInput(telemetryInput, input)
    const event: TelemetryEvent = {id: this.nextId++, ...data, receivedAt: now.toISOString()}
    this.remember(event)
    this.writing = this.writing.then(() => this.append(event))
    await this.writing
    for (const listener of this.listeners) listener(event)
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

  private remember(event: TelemetryEvent): void {
    this.events.push(event)
    if (this.events.length > this.keep) this.events.splice(0, this.events.length - this.keep)
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

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0
  if (a === undefined) return -1
  if (b === undefined) return 1
  return String(a) < String(b) ? -1 : 1
}
