import {open} from 'node:fs/promises'
import net from 'node:net'
import {type Clock, formatDuration, systemClock} from './clock.js'
import {ExitCode, PocError, errorMessage} from './errors.js'

/**
 * Readiness strategies: small probes composed with allOf. Each strategy may carry its own
 * timeout; one overall deadline bounds the whole wait. A timeout names what was waited for,
 * for how long, and the last error seen.
 */
export interface ReadinessCheck {
  /** What is waited for, as a user reads it: "AMQP connect to amqp://127.0.0.1:5672". */
  description: string
  /** This strategy gives up after this long, even when the overall deadline is later. */
  timeoutMs?: number
  /** One attempt: resolves when ready, rejects with the reason otherwise. */
  probe?(signal: AbortSignal): Promise<void>
  /** allOf: every part must become ready, each within its own timeout. */
  parts?: ReadinessCheck[]
}

export class ReadinessTimeoutError extends PocError {
  constructor(
    readonly check: string,
    readonly waitedMs: number,
    readonly lastError: string | undefined,
  ) {
    super(
      `timed out after ${formatDuration(waitedMs)} waiting for ${check}${lastError ? ` (last error: ${lastError})` : ''}`,
      {exitCode: ExitCode.unavailable, code: 'readiness_timeout'},
    )
  }
}

export class ReadinessAbortedError extends PocError {
  constructor(reason: string) {
    super(reason, {exitCode: ExitCode.unavailable, code: 'readiness_aborted'})
  }
}

export interface WaitOptions {
  /** The overall deadline for the whole check, all parts included. */
  timeoutMs: number
  clock?: Clock
  signal?: AbortSignal
  /** Checked between attempts; a returned reason ends the wait at once (e.g. the process exited). */
  abortIf?: () => string | undefined
  /** Time one attempt may take before it counts as failed. */
  attemptTimeoutMs?: number
}

const firstInterval = 25
// Probes are cheap local calls: a coarse interval would only add latency after a server is up
// (at 250 ms, ~125 ms on average to every component of poc up; issue 19).
const maxInterval = 100

export async function waitForReady(
  check: ReadinessCheck,
  options: WaitOptions,
): Promise<{elapsedMs: number}> {
  const clock = options.clock ?? systemClock
  const start = clock.now()
  const deadline = start + options.timeoutMs
  await waitUntil(check, deadline, clock, options)
  return {elapsedMs: clock.now() - start}
}

async function waitUntil(
  check: ReadinessCheck,
  overallDeadline: number,
  clock: Clock,
  options: WaitOptions,
): Promise<void> {
  if (check.parts) {
    for (const part of check.parts) await waitUntil(part, overallDeadline, clock, options)
    return
  }
  const start = clock.now()
  const deadline =
    check.timeoutMs === undefined ? overallDeadline : Math.min(overallDeadline, start + check.timeoutMs)
  let interval = firstInterval
  let lastError: string | undefined
  for (;;) {
    if (options.signal?.aborted)
      throw new ReadinessAbortedError(`interrupted while waiting for ${check.description}`)
    const reason = options.abortIf?.()
    if (reason) throw new ReadinessAbortedError(reason)
    try {
      await attempt(check, options.attemptTimeoutMs ?? 2000, options.signal)
      return
    } catch (error) {
      lastError = errorMessage(error)
    }
    const now = clock.now()
    if (now >= deadline) throw new ReadinessTimeoutError(check.description, now - start, lastError)
    await clock.sleep(Math.min(interval, deadline - now), options.signal).catch(() => undefined)
    interval = Math.min(interval * 2, maxInterval)
  }
}

async function attempt(check: ReadinessCheck, timeoutMs: number, outer?: AbortSignal): Promise<void> {
  if (!check.probe) return
  const signals = [AbortSignal.timeout(timeoutMs), ...(outer ? [outer] : [])]
  await check.probe(AbortSignal.any(signals))
}

export function allOf(...parts: ReadinessCheck[]): ReadinessCheck {
  return {description: parts.map((p) => p.description).join(' and '), parts}
}

export function tcp(host: string, port: number, timeoutMs?: number): ReadinessCheck {
  return {
    description: `TCP connect to ${host}:${port}`,
    timeoutMs,
    probe: (signal) =>
      new Promise((resolve, reject) => {
        const socket = net.connect({host, port})
        const fail = (error: unknown) => {
          socket.destroy()
          reject(error)
        }
        signal.addEventListener('abort', () => fail(new Error('attempt timed out')), {once: true})
        socket.once('connect', () => {
          socket.end()
          resolve()
        })
        socket.once('error', fail)
      }),
  }
}

export interface HttpCheckOptions {
  headers?: Record<string, string>
  /** Default: any 2xx. */
  expectStatus?: (status: number) => boolean
  /** Extra condition on the parsed JSON body; return a reason when it is not satisfied. */
  body?: (json: unknown) => string | undefined
  timeoutMs?: number
  /** The URL as shown to users (credentials removed). */
  label?: string
}

export function http(url: string, options: HttpCheckOptions = {}): ReadinessCheck {
  return {
    description: `GET ${options.label ?? url}`,
    timeoutMs: options.timeoutMs,
    probe: async (signal) => {
      const response = await fetch(url, {headers: options.headers, signal})
      const text = await response.text()
      const statusOk = options.expectStatus ? options.expectStatus(response.status) : response.ok
      if (!statusOk) throw new Error(`HTTP ${response.status} ${text.slice(0, 200)}`.trim())
      if (options.body) {
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          throw new Error(`not JSON: ${text.slice(0, 200)}`)
        }
        const reason = options.body(json)
        if (reason) throw new Error(reason)
      }
    },
  }
}

export function amqpConnect(url: string, label: string, timeoutMs?: number): ReadinessCheck {
  return {
    description: `AMQP connect to ${label}`,
    timeoutMs,
    probe: async (signal) => {
      // Loaded on first use (as ioredis below): a command that probes nothing does not compile them.
      const {default: amqp} = await import('amqplib')
      const connecting = amqp.connect(url, {timeout: 2000})
      const aborted = new Promise<never>((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error('attempt timed out')), {once: true}),
      )
      try {
        const connection = await Promise.race([connecting, aborted])
        await connection.close()
      } catch (error) {
        // A connection that opens after we gave up must not stay open.
        connecting.then((c) => c.close()).catch(() => undefined)
        throw error
      }
    },
  }
}

export function redisPing(host: string, port: number, timeoutMs?: number): ReadinessCheck {
  return {
    description: `Redis PING on ${host}:${port}`,
    timeoutMs,
    probe: async (signal) => {
      const {Redis} = await import('ioredis')
      const client = new Redis({
        host,
        port,
        lazyConnect: true,
        connectTimeout: 2000,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => null,
      })
      client.on('error', () => undefined)
      const onAbort = () => client.disconnect()
      signal.addEventListener('abort', onAbort, {once: true})
      try {
        await client.connect()
        const reply = await client.ping()
        if (reply !== 'PONG') throw new Error(`PING answered ${reply}`)
      } finally {
        signal.removeEventListener('abort', onAbort)
        client.disconnect()
      }
    },
  }
}

/** A line matching the pattern appears in a log file, at or after a byte offset (where this start began). */
export function logLine(file: string, pattern: RegExp, fromOffset = 0, timeoutMs?: number): ReadinessCheck {
  return {
    description: `a log line matching ${pattern} in ${file}`,
    timeoutMs,
    probe: async () => {
      const handle = await open(file, 'r')
      try {
        const {size} = await handle.stat()
        const length = Math.max(0, size - fromOffset)
        const buffer = Buffer.alloc(length)
        await handle.read(buffer, 0, length, fromOffset)
        if (!pattern.test(buffer.toString('utf8'))) throw new Error('no matching line yet')
      } finally {
        await handle.close()
      }
    },
  }
}
