import {destination, pino, type Logger} from 'pino'

export type {Logger}

export interface LoggerOptions {
  /**
   * Write asynchronously: lines logged while a write is in flight go out together in the next
   * one (flushed on exit), instead of one write per line. For a service that logs a line per
   * message (SPEC's `invoice generated …`); a kill -9 can lose the last few milliseconds of lines.
   */
  buffered?: boolean
}

/**
 * JSON logs (pino) on stdout: under `poc up` a service's stdout is its log file
 * ($POC_HOME/logs/<name>.log), so `poc logs` shows these lines.
 */
export function createLogger(
  service: string,
  level = process.env.LOG_LEVEL ?? 'info',
  options: LoggerOptions = {},
): Logger {
  const settings = {name: service, level, base: {service}, timestamp: pino.stdTimeFunctions.epochTime}
  return options.buffered ? pino(settings, destination({dest: 1, sync: false})) : pino(settings)
}
