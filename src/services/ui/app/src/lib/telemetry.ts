import {onReachability, pmReachable} from './api'
import {readJson, writeJson} from './storage'

/**
 * UI telemetry to pm (POST /api/v1/telemetry/ui, component `ui`). Events are queued in
 * localStorage first and sent from there, so what happens while pm is down (fetch_failed,
 * mock_fallback) reaches pm once it answers again: on the next successful API answer, on
 * the browser's `online` event, or on a retry timer. The same event for the same page and
 * endpoint is not queued twice; its `occurrences` counts the repeats.
 */

export const telemetryQueueKey = 'poc-ui-telemetry-queue-v1'
const telemetryPath = '/api/v1/telemetry/ui'
const maxQueued = 100
const retryMs = 10_000

export interface TelemetryDetail {
  page?: string
  endpoint?: string
  reason?: string
  [key: string]: unknown
}

export interface QueuedEvent {
  component: 'ui'
  event: string
  level: 'info' | 'warn' | 'error'
  origin: 'client'
  timestamp: string
  detail: TelemetryDetail & {occurrences?: number; lastAt?: string}
}

let flushing: Promise<void> | undefined
let timer: ReturnType<typeof setTimeout> | undefined

function queue(): QueuedEvent[] {
  const stored = readJson<QueuedEvent[]>(telemetryQueueKey)
  return Array.isArray(stored) ? stored : []
}

export function queuedTelemetry(): QueuedEvent[] {
  return queue()
}

export function reportTelemetry(
  event: string,
  detail: TelemetryDetail,
  level: QueuedEvent['level'] = 'info',
): void {
  const events = queue()
  const now = new Date().toISOString()
  const same = events.find(
    (e) => e.event === event && e.detail.page === detail.page && e.detail.endpoint === detail.endpoint,
  )
  if (same) {
    same.detail.occurrences = (same.detail.occurrences ?? 1) + 1
    same.detail.lastAt = now
  } else {
    events.push({component: 'ui', event, level, origin: 'client', timestamp: now, detail: {...detail}})
  }
  writeJson(telemetryQueueKey, events.slice(-maxQueued))
  // While pm is known to be down, a POST would only fail (and litter the console): wait for it.
  if (pmReachable() === false) scheduleRetry()
  else void flushTelemetry()
}

/** Sends the queue in order; stops at the first event pm does not take for want of an answer. */
export function flushTelemetry(): Promise<void> {
  flushing ??= send().finally(() => {
    flushing = undefined
  })
  return flushing
}

async function send(): Promise<void> {
  for (;;) {
    const [next] = queue()
    if (!next) return
    let status: number
    try {
      const response = await fetch(telemetryPath, {
        method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify(next),
        cache: 'no-store',
        keepalive: true,
        signal: AbortSignal.timeout(5000),
      })
      status = response.status
    } catch {
      status = 0
    }
    // No answer, pm down behind the ui (503/504), or pm's rate limit: keep it and try later.
    if (status === 0 || status === 429 || status >= 500) {
      scheduleRetry()
      return
    }
    // Taken (204), or refused for good (4xx): either way it leaves the queue.
    const rest = queue()
    if (rest[0]?.timestamp === next.timestamp && rest[0].event === next.event) rest.shift()
    writeJson(telemetryQueueKey, rest)
  }
}

/** Asks the ui's own /health (always 200) whether pm answers, then flushes; else tries again later. */
function flushWhenReachable(): void {
  void fetch('/health', {cache: 'no-store', signal: AbortSignal.timeout(5000)})
    .then(
      async (response) => ((await response.json()) as {pm?: {reachable?: boolean}}).pm?.reachable === true,
    )
    .catch(() => false)
    .then((reachable) => (reachable ? flushTelemetry() : scheduleRetry()))
}

function scheduleRetry(): void {
  if (timer !== undefined) return
  timer = setTimeout(() => {
    timer = undefined
    flushWhenReachable()
  }, retryMs)
}

/** Starts the flushing triggers; called once at start. */
export function startTelemetry(): void {
  onReachability((reachable) => {
    if (reachable && queue().length > 0) void flushTelemetry()
  })
  window.addEventListener('online', () => flushWhenReachable())
  // What an earlier page queued: sent once pm answers, without a POST that would only fail.
  if (queue().length > 0) flushWhenReachable()
}
