import {pino, type Logger} from 'pino'

export type {Logger}

/**
 * JSON logs (pino) on stdout: under `poc up` a service's stdout is its log file
 * ($POC_HOME/logs/<name>.log), so `poc logs` shows these lines.
 */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({name: service, level, base: {service}, timestamp: pino.stdTimeFunctions.epochTime})
}
