import {Redis} from 'ioredis'
import {idempotencyRedisKey} from '../../contract/idempotency.js'
import type {Logger} from './logger.js'
import {dependenciesReady, startGated} from './start-gate.js'

/**
 * Which idempotency keys a consumer has processed (SPEC §3), as `idemp:{key}` with a TTL.
 * Remember a key only after the work is done: the effect itself must be idempotent, since a
 * crash between the work and `remember` redelivers the message.
 */
export class Idempotency {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
  ) {
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) {
      throw new RangeError(`the idempotency TTL must be a positive number of milliseconds, got ${ttlMs}`)
    }
  }

  async seen(key: string): Promise<boolean> {
    return (await this.redis.exists(idempotencyRedisKey(key))) === 1
  }

  async remember(key: string): Promise<void> {
    await this.redis.set(idempotencyRedisKey(key), '1', 'PX', this.ttlMs)
  }
}

const firstRetryMs = 200
const maxRetryMs = 5000

/**
 * A client that reconnects forever with the bus's backoff (200 ms doubling to 5 s). A command
 * issued while Redis is away fails after a few attempts instead of waiting for it, so a
 * consumer's handler throws and its message is redelivered later.
 */
export function createRedis(url: string, logger: Logger, options: {autoPipelining?: boolean} = {}): Redis {
  const log = logger.child({component: 'redis'})
  // Behind poc up's start gate (start-gate.ts) it connects once the gate opens.
  const gated = startGated()
  const redis = new Redis(url, {
    // Commands issued in one tick (several consumers' checks) go out in one write.
    enableAutoPipelining: options.autoPipelining ?? false,
    maxRetriesPerRequest: 2,
    retryStrategy: (attempt) => Math.min(firstRetryMs * 2 ** (attempt - 1), maxRetryMs),
    lazyConnect: gated,
  })
  if (gated) {
    void dependenciesReady().then(() =>
      // A command sent meanwhile may have started the connection already.
      redis.status === 'wait' ? redis.connect().catch(() => undefined) : undefined,
    )
  }
  let reported = false
  redis.on('ready', () => {
    reported = false
    log.info({url: redactPassword(url)}, 'redis connected')
  })
  redis.on('error', (error: Error) => {
    // ioredis repeats the error on every attempt: once per outage is enough in the log.
    if (reported) return
    reported = true
    log.warn({err: error, url: redactPassword(url)}, 'redis unavailable; reconnecting with backoff')
  })
  return redis
}

function redactPassword(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(unparsable url)'
  }
}
