import chalk from 'chalk'
import {type LogLine, parsePinoLine} from '../stack/logs.js'

/*
 * How `poc logs` shows a line to a person. Written here rather than with pino-pretty: the time
 * and the component are columns of the merged view (every log has them, not only pino's), so
 * what is left to render of a pino record is one line of level, message and fields.
 */

const levelColour: Record<string, (text: string) => string> = {
  trace: chalk.gray,
  debug: chalk.gray,
  info: chalk.green,
  warn: chalk.yellow,
  error: chalk.red,
  fatal: chalk.bgRed,
}

/** 12:34:56.789 in local time, or as many blanks when the time is unknown. */
export function timeColumn(time: string | null): string {
  if (time === null) return ' '.repeat(12)
  const d = new Date(time)
  const two = (n: number) => String(n).padStart(2, '0')
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`
}

function fieldValue(value: unknown): string {
  if (typeof value === 'string') return /[\s="]/.test(value) || value === '' ? JSON.stringify(value) : value
  if (typeof value === 'object' && value !== null && 'message' in value && 'type' in value) {
    // pino's serialised error: its type and message (poc logs --json keeps the stack).
    const error = value as {type: unknown; message: unknown}
    return JSON.stringify(`${String(error.type)}: ${String(error.message)}`)
  }
  return JSON.stringify(value)
}

/** A pino line as `INFO  message key=value …`; any other line as it is. */
export function renderLine(line: string): string {
  const record = parsePinoLine(line)
  if (!record) return line
  const colour = levelColour[record.level] ?? ((text: string) => text)
  const fields = Object.entries(record.fields).map(
    ([key, value]) => `${chalk.dim(`${key}=`)}${fieldValue(value)}`,
  )
  return [colour(record.level.toUpperCase().padEnd(5)), record.message, ...fields].filter(Boolean).join(' ')
}

/** One line of the merged view: component, time, then the line. */
export function formatLogLine(entry: LogLine, width: number, colour: (text: string) => string): string {
  return `${colour(entry.component.padEnd(width))} | ${chalk.dim(timeColumn(entry.time))} ${renderLine(entry.line)}`
}
