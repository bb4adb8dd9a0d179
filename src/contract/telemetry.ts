import {z} from 'zod'
import {RESYNC_EVENT} from './streams.js'

/*
 * pm's telemetry as it crosses the wire (SPEC §4.1): what a sender posts, what the API and the
 * stream return, and what GET /health/telemetry answers. pm keeps the store (services/pm).
 */

/** The event types of `GET /api/v1/telemetry/ui/stream`, each a named event. */
export const telemetryStreamEvents = {event: 'telemetry', resync: RESYNC_EVENT} as const

/**
 * UI and server telemetry (SPEC §4.1): the last 200 events in memory, every event appended
 * as a JSON line to the telemetry log, which rotates above a size keeping a few archives.
 */
export const telemetryLevels = ['debug', 'info', 'warn', 'error'] as const
export type TelemetryLevel = (typeof telemetryLevels)[number]

/**
 * Level names senders use, to the four pm keeps. The seed's UI and sample data send debug, info,
 * warn and error; its scripts pass any name through (`send_telemetry_sample.sh … warning`) and
 * do not check the answer, so a refused name would be an event lost without a word.
 */
const levelNames: Record<string, TelemetryLevel> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  information: 'info',
  notice: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  err: 'error',
  critical: 'error',
  fatal: 'error',
}
export const acceptedLevelNames = Object.keys(levelNames)

/** The level a name means (any case, spaces around ignored), or undefined for a name pm does not know. */
export function normaliseLevel(name: string): TelemetryLevel | undefined {
  const key = name.trim().toLowerCase()
  return Object.hasOwn(levelNames, key) ? levelNames[key] : undefined
}

const levelInput = z
  .string()
  .optional()
  .transform((name, ctx): TelemetryLevel => {
    if (name === undefined) return 'info'
    const level = normaliseLevel(name)
    if (level) return level
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `unknown level ${JSON.stringify(name.slice(0, 50))}; expected one of ${acceptedLevelNames.join(', ')}`,
    })
    return z.NEVER
  })

export const telemetryInput = z.object({
  component: z.string().trim().min(1).max(200),
  event: z.string().trim().min(1).max(200),
  level: levelInput,
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
  /** The sender's address (`seed::pm` for the sample events pm seeds itself). */
  ip?: string
}

export const telemetryHealthSchema = z.object({
  status: z.enum(['ok', 'empty']),
  message: z.string(),
  events: z.object({
    total: z.number().int().nonnegative(),
    seeded: z.number().int().nonnegative(),
    lastEventAt: z.string().nullable(),
    lastSeededAt: z.string().nullable(),
  }),
  fallbackActive: z.boolean(),
})
export type TelemetryHealth = z.infer<typeof telemetryHealthSchema>
