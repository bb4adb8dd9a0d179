import {existsSync} from 'node:fs'
import {open, stat} from 'node:fs/promises'
import {type ComponentName, catalog} from './catalog.js'
import {type Clock, systemClock} from './clock.js'
import type {PocHome} from './home.js'
import {lastLines} from './log-tail.js'

export interface LogLine {
  component: ComponentName
  /**
   * When it was written (ISO 8601), from the line itself, else from the line before it in the
   * same log (a stack trace's lines belong to the entry that started it); null when unknown.
   */
  time: string | null
  line: string
  /** For a pino (JSON) line of our services: its level's name and message. */
  level?: string
  message?: string
}

const pinoLevels: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
}

export interface PinoRecord {
  level: string
  time?: number
  message: string
  /** Everything else but the fields every line repeats (service, name, pid, hostname). */
  fields: Record<string, unknown>
}

/** A line our services' pino logger wrote, or undefined for any other line. */
export function parsePinoLine(line: string): PinoRecord | undefined {
  if (!line.startsWith('{"level":')) return undefined
  let record: Record<string, unknown>
  try {
    record = JSON.parse(line) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (typeof record !== 'object' || record === null || typeof record.level !== 'number') return undefined
  const {level, time, msg, service: _s, name: _n, pid: _p, hostname: _h, ...fields} = record
  return {
    level: pinoLevels[level as number] ?? String(level),
    time: typeof time === 'number' ? time : undefined,
    message: typeof msg === 'string' ? msg : '',
    fields,
  }
}

/** Log lines with their time and, for pino lines, level and message; `carry` is the time so far. */
function entriesOf(component: ComponentName, lines: string[], carry?: number): LogLine[] {
  let current = carry
  return lines.map((line) => {
    current = lineTime(line) ?? current
    const pino = parsePinoLine(line)
    return {
      component,
      time: current === undefined ? null : new Date(current).toISOString(),
      line,
      ...(pino ? {level: pino.level, message: pino.message} : {}),
    }
  })
}

/** Several logs as one, in the order their lines were written (stable for equal or unknown times). */
export function mergeByTime(logs: LogLine[][]): LogLine[] {
  const keyed = logs.flatMap((entries) => {
    // Lines before the first with a time sort with that first one.
    const first = entries.find((e) => e.time !== null)?.time ?? null
    return entries.map((entry) => ({entry, at: Date.parse(entry.time ?? first ?? '') || 0}))
  })
  // Array.prototype.sort is stable: equal times keep each log's order, and the logs' order.
  return keyed.sort((a, b) => a.at - b.at).map((k) => k.entry)
}

/** The components with a log file, in catalog order: what `poc logs` shows without arguments. */
export function componentsWithLogs(home: PocHome): ComponentName[] {
  return catalog.map((c) => c.name).filter((name) => existsSync(home.logFile(name)))
}

export async function readLogs(
  home: PocHome,
  components: ComponentName[],
  options: {tail: number; since?: Date},
): Promise<LogLine[]> {
  const logs: LogLine[][] = []
  for (const component of components) {
    // Read generously when filtering by time, then keep the last `tail` lines that pass.
    const lines = await lastLines(
      home.logFile(component),
      options.since ? Math.max(options.tail, 100_000) : options.tail,
    )
    const kept = options.since ? linesSince(lines, options.since) : lines
    logs.push(entriesOf(component, kept.slice(-options.tail)))
  }
  return mergeByTime(logs)
}

/**
 * Follow log files from their current end, as `tail -f` does: new complete lines are passed on
 * as they are written; a file that shrinks (truncated or replaced) is read again from the start.
 */
export async function followLogs(
  home: PocHome,
  components: ComponentName[],
  onLine: (line: LogLine) => void,
  signal: AbortSignal,
  clock: Clock = systemClock,
): Promise<void> {
  const cursors = new Map<ComponentName, {offset: number; partial: string; time?: number}>()
  for (const component of components) {
    const size = await stat(home.logFile(component)).then(
      (s) => s.size,
      () => 0,
    )
    cursors.set(component, {offset: size, partial: ''})
  }
  while (!signal.aborted) {
    for (const component of components) {
      const cursor = cursors.get(component) as {offset: number; partial: string; time?: number}
      const file = home.logFile(component)
      const size = await stat(file).then(
        (s) => s.size,
        () => 0,
      )
      if (size < cursor.offset) {
        cursor.offset = 0
        cursor.partial = ''
      }
      if (size === cursor.offset) continue
      const handle = await open(file, 'r')
      try {
        const buffer = Buffer.alloc(size - cursor.offset)
        await handle.read(buffer, 0, buffer.length, cursor.offset)
        cursor.offset = size
        const lines = (cursor.partial + buffer.toString('utf8')).split('\n')
        cursor.partial = lines.pop() ?? ''
        for (const entry of entriesOf(component, lines, cursor.time)) {
          if (entry.time !== null) cursor.time = Date.parse(entry.time)
          onLine(entry)
        }
      } finally {
        await handle.close()
      }
    }
    await clock.sleep(200, signal).catch(() => undefined)
  }
}

/** `--since`: a duration back from now (30s, 10m, 2h, 1d) or an absolute date. */
export function parseSince(text: string, now = Date.now()): Date | undefined {
  const relative = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim())
  if (relative) {
    const unit = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}[
      relative[2] as 'ms' | 's' | 'm' | 'h' | 'd'
    ]
    return new Date(now - Number(relative[1]) * unit)
  }
  const absolute = Date.parse(text)
  return Number.isNaN(absolute) ? undefined : new Date(absolute)
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/**
 * The time a log line was written, in the formats our components use: ISO-like prefixes
 * (RabbitMQ, our own `[poc]` lines), `ts=` (Prometheus), `"time":<epoch ms>` (pino), and
 * Redis's `pid:X 23 Nov 2026 00:30:37.123`.
 */
export function lineTime(line: string): number | undefined {
  const iso = /(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})?/.exec(
    line.slice(0, 80),
  )
  if (iso) {
    const parsed = Date.parse(`${iso[1]}T${iso[2]}${iso[3] ?? 'Z'}`)
    if (!Number.isNaN(parsed)) return parsed
  }
  const pino = /"time":(\d{12,})/.exec(line)
  if (pino) return Number(pino[1])
  const redis = /^\d+:[A-Z] (\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)/.exec(line)
  if (redis) {
    const month = months.indexOf(redis[2] as string) + 1
    if (month > 0)
      return Date.parse(
        `${redis[3]}-${String(month).padStart(2, '0')}-${(redis[1] as string).padStart(2, '0')}T${redis[4]}Z`,
      )
  }
  return undefined
}

/** Lines at or after `since`; a line without a time of its own (a stack trace) goes with the line before it. */
export function linesSince(lines: string[], since: Date): string[] {
  const limit = since.getTime()
  let current: number | undefined
  return lines.filter((line) => {
    current = lineTime(line) ?? current
    return current !== undefined && current >= limit
  })
}
