import {setTimeout as sleep} from 'node:timers/promises'
import chalk, {type ChalkInstance} from 'chalk'
import {telemetryStreamEvents, type TelemetryEvent} from '../contract/telemetry.js'
import {ExitCode, PocError, errorMessage, usageError} from '../stack/errors.js'
import {EventStreamError, readEventStream} from './event-stream.js'

export type {TelemetryEvent} from '../contract/telemetry.js'

/** pm's telemetry filters (SPEC §4.1) as the CLI takes them; every one given must match. */
export interface TelemetryFilters {
  component?: string
  event?: string
  level?: string
  origin?: string
  /** A substring of the event's detail as JSON. */
  detail?: string
  /** `$.detail.marker`, `items[1].code`, `checks[*].status`: the event matches when the path finds something. */
  detailPath?: string
  since?: Date
}

export interface TelemetryInput {
  component: string
  event: string
  level?: string
  origin?: string
  detail?: unknown
}

/** What a follower tells about its connection, for a note on stderr. */
export type FollowStatus =
  | {kind: 'lost'; reason: string; retryInMs: number}
  | {kind: 'back'; after: number | undefined}
  | {kind: 'resync'; lastEventId: number; reason: string}

export interface FollowOptions {
  signal: AbortSignal
  /** The id of the last event already shown: the stream starts after it. */
  after?: number
  onEvent: (event: TelemetryEvent) => void
  onStatus?: (status: FollowStatus) => void
  /** Reconnection backoff: doubles from the first to the second. */
  retryMs?: [number, number]
}

const requestTimeoutMs = 10_000

/** The query string pm's GET and stream routes both read, from the filters that are set. */
export function telemetryQuery(
  filters: TelemetryFilters,
  extra: Record<string, string> = {},
): URLSearchParams {
  const query = new URLSearchParams()
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) query.set(name, value)
  }
  set('component', filters.component)
  set('event', filters.event)
  set('level', filters.level)
  set('origin', filters.origin)
  set('detail', filters.detail)
  set('detail_path', filters.detailPath)
  set('since', filters.since?.toISOString())
  for (const [name, value] of Object.entries(extra)) query.set(name, value)
  return query
}

/** The newest `limit` events that match, oldest first: the order they are printed in. */
export async function latest(
  url: string,
  filters: TelemetryFilters,
  limit: number,
): Promise<TelemetryEvent[]> {
  const query = telemetryQuery(filters, {sort: 'receivedAt', order: 'desc', limit: String(limit)})
  const page = (await pmJson(url, `/api/v1/telemetry/ui?${query}`)) as {items: TelemetryEvent[]}
  return page.items.reverse()
}

/**
 * The newest latest matching events, then every new one until `signal` aborts. Following starts
 * after the newest event pm holds, whether it matched or not, so an event posted between the
 * two requests is printed once (the stream replays it), and an older one is never printed twice.
 */
export async function tail(
  url: string,
  filters: TelemetryFilters,
  options: {
    limit: number
    follow?: Omit<FollowOptions, 'after' | 'onEvent'>
    onEvent: (e: TelemetryEvent) => void
  },
): Promise<void> {
  const newest = options.follow ? await newestId(url) : 0
  const shown = await latest(url, filters, options.limit)
  for (const event of shown) options.onEvent(event)
  if (!options.follow) return
  const after = Math.max(newest, ...shown.map((e) => e.id))
  await follow(url, filters, {...options.follow, after, onEvent: options.onEvent})
}

/**
 * New events as pm pushes them, until `signal` aborts, read with EventSource. When pm goes away (a
 * restart), it reconnects with backoff and resumes with Last-Event-ID from the last event seen,
 * which pm answers with what was missed: nothing is lost and nothing shown twice. The backoff is
 * ours, not EventSource's (which waits pm's `retry:` hint, 3 s, and gives up on a 503 answer).
 */
export async function follow(url: string, filters: TelemetryFilters, options: FollowOptions): Promise<void> {
  const {signal, onEvent, onStatus} = options
  const [minDelay, maxDelay] = options.retryMs ?? [200, 5000]
  const streamUrl = `${url}/api/v1/telemetry/ui/stream?${telemetryQuery(filters)}`
  let after = options.after
  let delay = minDelay
  let lost = false
  const onOpen = () => {
    if (!lost) return
    lost = false
    delay = minDelay
    onStatus?.({kind: 'back', after})
  }
  while (!signal.aborted) {
    let reason: string
    try {
      const headers: Record<string, string> = after === undefined ? {} : {'last-event-id': String(after)}
      const events = [telemetryStreamEvents.event, telemetryStreamEvents.resync]
      for await (const message of readEventStream(streamUrl, {headers, signal, events, onOpen})) {
        if (message.event === telemetryStreamEvents.resync) {
          const notice = JSON.parse(message.data) as {lastEventId: number; reason: string}
          onStatus?.({kind: 'resync', ...notice})
        } else {
          const event = JSON.parse(message.data) as TelemetryEvent
          after = event.id
          onEvent(event)
        }
      }
      reason = 'pm closed the stream'
    } catch (error) {
      if (signal.aborted) return
      if (isRefusal(error)) throw error
      reason = errorMessage(error)
    }
    if (signal.aborted) return
    if (!lost) onStatus?.({kind: 'lost', reason, retryInMs: delay})
    lost = true
    try {
      await sleep(delay, undefined, {signal})
    } catch {
      return
    }
    delay = Math.min(delay * 2, maxDelay)
  }
}

/** POST one event to pm; a refusal (bad input) is a usage error naming pm's reason. */
export async function send(url: string, input: TelemetryInput): Promise<void> {
  await pmJson(url, '/api/v1/telemetry/ui', {method: 'POST', body: input})
}

/** One line a person reads: time, level, component, event and the detail as compact JSON. */
export function formatEvent(event: TelemetryEvent, paint: ChalkInstance = chalk): string {
  const at = new Date(event.receivedAt)
  const two = (n: number) => String(n).padStart(2, '0')
  const time = `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, '0')}`
  const level = event.level.padEnd(5)
  const coloured =
    event.level === 'error'
      ? paint.red(level)
      : event.level === 'warn'
        ? paint.yellow(level)
        : event.level === 'debug'
          ? paint.dim(level)
          : level
  const detail = event.detail === undefined ? '' : ` ${JSON.stringify(event.detail)}`
  return `${time} ${coloured} ${event.component} ${event.event}${detail}`
}

async function newestId(url: string): Promise<number> {
  const page = (await pmJson(url, '/api/v1/telemetry/ui?sort=receivedAt&order=desc&limit=1')) as {
    items: TelemetryEvent[]
  }
  return page.items[0]?.id ?? 0
}

/** A 4xx other than 429 means pm will refuse again: retrying cannot help. */
function isRefusal(error: unknown): boolean {
  if (!(error instanceof EventStreamError) || error.status === undefined) return false
  return error.status >= 400 && error.status < 500 && error.status !== 429
}

async function pmJson(
  url: string,
  route: string,
  options: {method?: string; body?: unknown; signal?: AbortSignal} = {},
): Promise<unknown> {
  const signals = [AbortSignal.timeout(requestTimeoutMs), ...(options.signal ? [options.signal] : [])]
  let response: Response
  try {
    response = await fetch(`${url}${route}`, {
      method: options.method ?? 'GET',
      headers: options.body === undefined ? {} : {'content-type': 'application/json'},
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.any(signals),
    })
  } catch (error) {
    throw new PocError(
      `pm is not answering at ${url}: ${errorMessage((error as {cause?: unknown}).cause ?? error)}`,
      {
        exitCode: ExitCode.unavailable,
        code: 'pm_unavailable',
        suggestions: ['See what runs with: poc status', 'Start pm with: poc up --only pm'],
        cause: error,
      },
    )
  }
  const text = await response.text()
  const body = parseBody(text)
  if (response.ok) return body
  const message =
    typeof body === 'object' && body && 'message' in body ? String(body.message) : text.slice(0, 300)
  const what = `${options.method ?? 'GET'} ${route.split('?')[0]}`
  if (response.status >= 400 && response.status < 500 && response.status !== 429) {
    throw usageError(`pm refused ${what} (${response.status}): ${message}`, suggestionsFor(message))
  }
  throw new PocError(`pm answered ${what} with ${response.status}: ${message}`, {
    exitCode: ExitCode.unavailable,
    code: 'pm_failed',
    suggestions: ['See its log with: poc logs pm'],
  })
}

function parseBody(text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

function suggestionsFor(message: string): string[] {
  if (message.includes('detail_path'))
    return ['A detail path looks like $.detail.marker, items[1].code or checks[*].status.']
  if (message.startsWith('level')) return ['Levels: debug, info, warn, error.']
  return []
}
