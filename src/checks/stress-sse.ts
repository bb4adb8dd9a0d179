import {setMaxListeners} from 'node:events'
import http from 'node:http'
import https from 'node:https'
import {performance} from 'node:perf_hooks'
import {setTimeout as delay} from 'node:timers/promises'
import {LatencyHistogram} from '../contract/latency.js'
import type {PocHome} from '../stack/home.js'
import {EventStreamParser} from './event-stream.js'
import {loadTarget} from './smoke/target.js'

/** SPEC §6.2: many clients on one event stream, each of which must get a complete first event in time. */
export interface StressSseRequest {
  url: string
  clients: number
  iterations: number
  /** Each client's limit for connecting and receiving its first event. */
  timeoutMs: number
  /** Start the clients evenly over this long (0: all at once). */
  rampMs: number
  /** Keep every client connected this long after the last one started, and measure fan-out. */
  durationMs?: number
  /** The share of clients (0–1) that must succeed. */
  minSuccess: number
  headers?: Record<string, string>
  signal?: AbortSignal
  /** Progress of long runs: called after each iteration's connect phase. */
  onIteration?(iteration: number, summary: {succeeded: number; failed: number}): void
}

export interface Percentiles {
  p50: number
  p95: number
  p99: number
  max: number
}

export interface StressSseResult {
  url: string
  clients: number
  iterations: number
  attempts: number
  succeeded: number
  failed: number
  successRatio: number
  minSuccess: number
  passed: boolean
  /** ms from starting the request to the response headers. */
  connectMs: Percentiles
  /** ms from starting the request to the first complete event. */
  firstEventMs: Percentiles
  eventsReceived: number
  /** Failures by cause, e.g. `status 503`, `timeout: no event within 8000 ms`, `ECONNRESET`. */
  errors: Record<string, number>
  /** Streams that ended while they were meant to stay open (after their first event). */
  disconnects: number
  /**
   * With a duration: for each event (by id) seen by several clients, how much later than the first
   * client each other client got it, in ms.
   */
  fanout?: {events: number; samples: number} & Percentiles
  durationMs: number
}

interface ClientOutcome {
  ok: boolean
  error?: string
  connectMs?: number
  firstEventMs?: number
  events: number
  disconnected: boolean
}

/** Milliseconds recorded into an HDR histogram (µs inside), summarised in ms to 0.01. */
class Histogram extends LatencyHistogram {
  recordMs(ms: number): void {
    this.record(ms * 1000)
  }

  summary(): Percentiles {
    const at = (p: number) => Math.round(this.percentile(p) / 10) / 100
    return {p50: at(50), p95: at(95), p99: at(99), max: at(100)}
  }
}

/** Runs the stress; never throws for a client's failure, only for a request that cannot start. */
export async function stressSse(request: StressSseRequest): Promise<StressSseResult> {
  const url = new URL(request.url)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`--url must be http or https, got ${url.protocol}`)
  }
  const started = performance.now()
  const connect = new Histogram()
  const firstEvent = new Histogram()
  const fanout = new Histogram()
  const errors: Record<string, number> = {}
  let succeeded = 0
  let failed = 0
  let eventsReceived = 0
  let disconnects = 0
  let fanoutEvents = 0

  for (let iteration = 1; iteration <= request.iterations; iteration++) {
    if (request.signal?.aborted) break
    // When each event id was first seen, and by how many clients: a broadcast is an id seen by several.
    const seen = new Map<string, {first: number; clients: number}>()
    const onEvent = (id: string | undefined, at: number) => {
      if (id === undefined || request.durationMs === undefined) return
      const entry = seen.get(id)
      if (entry === undefined) {
        seen.set(id, {first: at, clients: 1})
      } else {
        if (++entry.clients === 2) fanoutEvents++
        fanout.recordMs(at - entry.first)
      }
    }
    const stop = new AbortController()
    const both = request.signal ? AbortSignal.any([request.signal, stop.signal]) : stop.signal
    // Every client listens on it; that is the design, not a leak.
    setMaxListeners(request.clients + 10, both)
    const clients: Promise<ClientOutcome>[] = []
    const gap = request.clients > 1 ? request.rampMs / (request.clients - 1) : 0
    for (let i = 0; i < request.clients; i++) {
      if (both.aborted) break
      clients.push(runClient(url, request, both, onEvent))
      if (gap > 0 && i < request.clients - 1)
        await delay(gap, undefined, {signal: both}).catch(() => undefined)
    }
    if (request.durationMs !== undefined) {
      await delay(request.durationMs, undefined, {signal: request.signal}).catch(() => undefined)
    } else {
      // Without a duration a client is done at its first event; wait for every verdict.
      await Promise.all(clients)
    }
    stop.abort()
    const outcomes = await Promise.all(clients)
    let iterationOk = 0
    for (const outcome of outcomes) {
      eventsReceived += outcome.events
      if (outcome.connectMs !== undefined) connect.recordMs(outcome.connectMs)
      if (outcome.firstEventMs !== undefined) firstEvent.recordMs(outcome.firstEventMs)
      if (outcome.disconnected) disconnects++
      if (outcome.ok) {
        iterationOk++
      } else {
        const cause = outcome.error ?? 'unknown'
        errors[cause] = (errors[cause] ?? 0) + 1
      }
    }
    succeeded += iterationOk
    failed += outcomes.length - iterationOk
    request.onIteration?.(iteration, {succeeded: iterationOk, failed: outcomes.length - iterationOk})
  }

  const attempts = succeeded + failed
  const successRatio = attempts === 0 ? 0 : succeeded / attempts
  return {
    url: request.url,
    clients: request.clients,
    iterations: request.iterations,
    attempts,
    succeeded,
    failed,
    successRatio: Math.round(successRatio * 10_000) / 10_000,
    minSuccess: request.minSuccess,
    passed: attempts > 0 && successRatio >= request.minSuccess,
    connectMs: connect.summary(),
    firstEventMs: firstEvent.summary(),
    eventsReceived,
    errors,
    disconnects,
    ...(request.durationMs === undefined
      ? {}
      : {fanout: {events: fanoutEvents, samples: fanout.count, ...fanout.summary()}}),
    durationMs: Math.round(performance.now() - started),
  }
}

/**
 * One client on its own socket: succeeds when a complete event (a `data:` line ended by a blank
 * line) arrives within the timeout. With a duration it then stays connected, counting events,
 * until `signal` aborts; an end before that is a disconnect. *
 * It reads with our own parser over http.get, not with the eventsource package's EventSource
 * (which the smoke, the telemetry tail and the tests use): an EventSource hands out only the event
 * types it is told to listen for, and a stress on any --url must count every event; it reports a
 * network failure as a flattened message, where the stress counts causes by errno (ECONNRESET);
 * and with fetch, web streams and an EventTarget per client it cost about 3x the client CPU here
 * (3,000 clients of pm on 2 cores: 6.1 s against 1.5-2.0 s, first-event p50 2.6-2.9 s against
 * 0.8-1.1 s), which would measure the client, not the server, on a machine they share.
 */
function runClient(
  url: URL,
  request: StressSseRequest,
  signal: AbortSignal,
  onEvent: (id: string | undefined, at: number) => void,
): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const started = performance.now()
    const outcome: ClientOutcome = {ok: false, events: 0, disconnected: false}
    let settled = false
    let stayOpen = false
    const finish = (error?: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      if (error && !outcome.ok) outcome.error = error
      req.destroy()
      resolve(outcome)
    }
    const onAbort = () => finish(outcome.ok ? undefined : 'stopped before the first event')
    const timer = setTimeout(
      () => finish(`timeout: no event within ${request.timeoutMs} ms`),
      request.timeoutMs,
    )
    signal.addEventListener('abort', onAbort, {once: true})
    const client = url.protocol === 'https:' ? https : http
    const req = client.get(url, {
      agent: false,
      headers: {accept: 'text/event-stream', ...request.headers},
    })
    req.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message))
    req.on('response', (res) => {
      outcome.connectMs = performance.now() - started
      if (res.statusCode !== 200) {
        res.resume()
        finish(`status ${res.statusCode}`)
        return
      }
      res.setEncoding('utf8')
      const parser = new EventStreamParser()
      res.on('data', (chunk: string) => {
        for (const event of parser.push(chunk)) {
          const at = performance.now()
          outcome.events++
          if (!outcome.ok) {
            outcome.ok = true
            outcome.firstEventMs = at - started
            clearTimeout(timer)
            stayOpen = request.durationMs !== undefined
            if (!stayOpen) return finish()
          }
          onEvent(event.id, at)
        }
      })
      res.on('end', () => {
        if (stayOpen && !signal.aborted) outcome.disconnected = true
        finish('the stream ended before its first event')
      })
      res.on('error', () => {
        if (stayOpen && !signal.aborted) outcome.disconnected = true
        finish('the stream broke before its first event')
      })
    })
  })
}

/** pm's /metrics/stream in the stack of $POC_HOME (exit 3 when none runs). */
export async function defaultStreamUrl(home: PocHome): Promise<string> {
  const target = await loadTarget(home)
  return `${target.url('pm')}/metrics/stream`
}
