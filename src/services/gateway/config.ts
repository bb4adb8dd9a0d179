import {readFileSync} from 'node:fs'
import {z} from 'zod'
import {baseConfig, ConfigError} from '../shared/config.js'
import {DEFAULT_ID_BLOCK} from './order-ids.js'
import {parseSymbolList} from './symbols.js'
import {walEnvConfig} from './wal.js'

/** A limit that is off unless its variable is set (SPEC §4.5: backpressure limits). */
const optionalLimit = z.coerce.number().positive().optional()

/** The gateway's environment (SPEC §4.5); the seed's variable names where it has them. */
export const gatewayConfig = baseConfig.extend({
  ...walEnvConfig.shape,
  JWT_HS256_SECRET: z.string().min(1).optional(),
  /** Where `poc up` keeps the dev secret; read when JWT_HS256_SECRET is not set. */
  JWT_HS256_SECRET_FILE: z.string().optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  JWT_CLOCK_SKEW_SEC: z.coerce.number().int().min(0).default(30),
  AUDIT_HMAC_KEY: z.string().min(1).optional(),
  AUDIT_HMAC_KEY_FILE: z.string().optional(),
  /** The WAL (and audit chain); default `<DATA_DIR>/audit.log`. */
  GATEWAY_AUDIT_PATH: z.string().optional(),
  /** Order ids reserved on disk in blocks (never reused after a crash); default `<DATA_DIR>/order-ids.json`. */
  GATEWAY_ORDER_IDS_PATH: z.string().optional(),
  /** Ids per reservation: a crash skips at most this many numbers. */
  ORDER_ID_BLOCK: z.coerce.number().int().min(2).max(1e9).default(DEFAULT_ID_BLOCK),
  /**
   * The seed's switch. true (default): 202 as soon as the order is in the WAL's buffer, and
   * `order_durable` follows its fdatasync. false: the 202 waits for the fdatasync, so no order
   * answered 202 is ever lost, at the price of the group commit's latency on every answer.
   */
  AUDIT_ASYNC_WAL: z
    .enum(['0', '1', 'true', 'false'])
    .default('true')
    .transform((value) => value === '1' || value === 'true'),
  /** The outbox's durable read position in the WAL; default `<DATA_DIR>/outbox.offset`. */
  OUTBOX_OFFSET_PATH: z.string().optional(),
  OUTBOX_BACKOFF_BASE_MS: z.coerce.number().int().positive().default(200),
  OUTBOX_BACKOFF_MAX_MS: z.coerce.number().int().positive().default(5000),
  /**
   * Comma-separated symbols the gateway trades, and no others (422 INVALID_SYMBOL). Empty (the
   * default): any well-formed symbol, its book created on its first order.
   */
  SYMBOLS: z
    .string()
    .default('')
    .superRefine((value, ctx) => {
      try {
        parseSymbolList(value)
      } catch (error) {
        ctx.addIssue({code: z.ZodIssueCode.custom, message: (error as Error).message})
      }
    }),
  /** Without SYMBOLS: distinct symbols (books) the gateway admits before a new one gets 422. */
  MAX_SYMBOLS: z.coerce.number().int().positive().default(1024),
  MAX_ORDER_QTY: z.coerce.number().positive().default(10_000),
  MAX_NOTIONAL: z.coerce.number().positive().default(1e9),
  QUEUE_CAPACITY: z.coerce.number().int().positive().default(65_536),
  /** 0 stops the drain (the seed's switch): orders queue up until QUEUE_REJECT, for drills. */
  FASTPATH_DRAIN_ENABLE: z
    .enum(['0', '1', 'true', 'false'])
    .default('1')
    .transform((value) => value === '1' || value === 'true'),
  /** Per-account token bucket: sustained orders per second and the burst above it. */
  RATE_LIMIT_PER_SEC: z.coerce.number().positive().default(20_000),
  RATE_LIMIT_BURST: z.coerce.number().positive().default(40_000),
  /** Orders accepted but not yet durable (503 BACKPRESSURE_INFLIGHT). */
  BACKPRESSURE_INFLIGHT_MAX: optionalLimit,
  /** Bytes appended to the WAL but not yet durable (503 BACKPRESSURE_WAL_BYTES). */
  BACKPRESSURE_WAL_BYTES_MAX: optionalLimit,
  /** Age of the oldest record not yet durable (503 BACKPRESSURE_WAL_AGE). */
  BACKPRESSURE_WAL_AGE_MS_MAX: optionalLimit,
  /** The same age, as a soft limit: 429 BACKPRESSURE_SOFT_WAL_AGE, retry later. */
  BACKPRESSURE_SOFT_WAL_AGE_MS_MAX: optionalLimit,
  /** Free space of the WAL's file system, in percent (503 BACKPRESSURE_DISK_FREE). */
  BACKPRESSURE_DISK_FREE_PCT_MIN: optionalLimit,
  /** Events kept for `Last-Event-ID` replay; an older id gets `resync_required`. */
  SSE_REPLAY_BUFFER: z.coerce.number().int().positive().default(65_536),
  SSE_MAX_CLIENTS_PER_IP: z.coerce.number().int().positive().default(256),
  /** Below the per-IP cap, so one account on a host cannot lock every other account out. */
  SSE_MAX_CLIENTS_PER_ACCOUNT: z.coerce.number().int().positive().default(32),
  SSE_MAX_PENDING_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  SSE_HEARTBEAT_MS: z.coerce.number().int().positive().default(15_000),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(16 * 1024),
  POC_HOME: z.string().optional(),
})
export type GatewayConfig = z.infer<typeof gatewayConfig>

/**
 * A secret from its variable, else from the file its `_FILE` variable names. `poc up` passes
 * files, so the secrets never appear in the process environment or in `poc status --json`.
 */
export function resolveSecret(config: GatewayConfig, name: 'JWT_HS256_SECRET' | 'AUDIT_HMAC_KEY'): string {
  const direct = config[name]
  if (direct !== undefined) return direct
  const file = config[`${name}_FILE`]
  if (file === undefined) {
    throw new ConfigError(`invalid configuration: set ${name} or ${name}_FILE (poc up creates one)`)
  }
  let value: string
  try {
    value = readFileSync(file, 'utf8').trim()
  } catch (error) {
    throw new ConfigError(`cannot read ${name}_FILE ${file}: ${(error as Error).message}`)
  }
  if (value === '') throw new ConfigError(`${name}_FILE ${file} is empty`)
  return value
}
