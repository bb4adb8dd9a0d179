import {stat} from 'node:fs/promises'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import type {ConfirmChannel} from 'amqplib'
import {Redis} from 'ioredis'
import {idempotencyRedisKey} from '../contract/idempotency.js'
import {readAdminToken} from '../contract/files.js'
import {objectPrefixes} from '../contract/object-store.js'
import {findBroker} from './broker.js'
import {
  type ComponentContext,
  type ComponentName,
  type ResetRecipe,
  catalog,
  getComponent,
} from './catalog.js'
import {type Clock, systemClock} from './clock.js'
import {componentContext} from './context.js'
import {PocError, errorMessage} from './errors.js'
import type {PocHome} from './home.js'
import {withLock} from './lock.js'
import {processesAlive} from './native.js'
import {pidsWorkingUnder} from './proc.js'
import {clearObjectPrefixes, objectStoreOf, readS3ServerSettings} from './s3-server.js'
import {removeComponentData} from './stack.js'
import {readState} from './state.js'

export interface ResetRequest {
  /** Also clear `compliance/` and `timesheets/` in MinIO's buckets. */
  withMinio: boolean
  /** Also reset the order gateway (its WAL and audit chain). */
  gateway: boolean
}

/**
 * running: reset through the live process (admin endpoint, AMQP purge, Redis UNLINK).
 * stopped: not running; its files were deleted. absent: not running and nothing on disk.
 */
export type ResetMode = 'running' | 'stopped' | 'absent'

export interface ResetStep {
  component: ComponentName
  mode: ResetMode
  action: string
  detail?: string
}

export interface ResetResult {
  home: string
  durationMs: number
  steps: ResetStep[]
  warnings: string[]
}

export interface ResetContext {
  home: PocHome
  clock?: Clock
}

/** Every key family our services write to Redis. */
export const redisKeyPatterns = [`${idempotencyRedisKey('')}*`]

/** After the first purge, in-flight work (at most a prefetch per consumer) is waited out this way. */
const settleIntervalMs = 250
const maxSettleRounds = 20
const adminTimeoutMs = 30_000

/**
 * The components a reset covers, in catalog order: those with a reset recipe, the opt-in ones
 * (the gateway, since its log is an audit record; MinIO) only when asked.
 */
export function resetTargets(request: ResetRequest): ComponentName[] {
  const withRecipe = catalog.filter((spec) => spec.reset)
  const optedIn = (flag: 'gateway' | 'minio') => withRecipe.filter((spec) => spec.reset?.optIn === flag)
  return [
    ...withRecipe.filter((spec) => !spec.reset?.optIn && spec.group === 'core'),
    ...(request.gateway ? optedIn('gateway') : []),
    ...(request.withMinio ? optedIn('minio') : []),
  ].map((spec) => spec.name)
}

/** A component's reset recipe (every reset target has one). */
function recipeOf(name: ComponentName): ResetRecipe {
  return getComponent(name).reset as ResetRecipe
}

/**
 * The queues a reset purges: all of the default vhost but the server-named ones (`amq.*`),
 * which are other clients' exclusive queues and not ours to empty.
 */
export function purgeableQueues(names: string[]): string[] {
  return names.filter((name) => !name.startsWith('amq.')).sort()
}

/**
 * Puts the stack in $POC_HOME back to its starting data: running components through their live
 * interfaces, stopped ones by deleting their files. Holds the stack lock, so it never races
 * `poc up` or `poc down`. Running it twice is the same as once.
 */
export async function resetStack(request: ResetRequest, context: ResetContext): Promise<ResetResult> {
  const {home} = context
  const clock = context.clock ?? systemClock
  const began = clock.now()
  return withLock(home, 'reset', async () => {
    const loaded = await readState(home)
    const warnings = loaded.warning ? [loaded.warning] : []
    const state = loaded.state
    const portOffset = state?.portOffset ?? 0
    const isRunning = (name: ComponentName) => {
      const record = state?.components.find((c) => c.name === name)
      return record !== undefined && processesAlive(record.processes)
    }
    const targets = resetTargets(request)
    const running = new Set(targets.filter(isRunning))
    const ctx = (name: ComponentName) => componentContext(name, home, portOffset)
    const steps = new Map<ComponentName, ResetStep>()
    const done = (step: ResetStep) => steps.set(step.component, step)

    if (request.withMinio && !running.has('minio') && (await exists(home.dataDirOf('minio')))) {
      throw new PocError('minio is not running: poc reset --with-minio clears it through its S3 API', {
        code: 'minio_stopped',
        suggestions: ['Start it first (poc up --with minio), then run poc reset --with-minio again.'],
      })
    }
    const stopped = targets.filter((name) => !running.has(name) && name !== 'minio')
    for (const name of stopped) assertNothingRunsFrom(home, name)
    try {
      const resetServices = async () => {
        for (const name of targets) {
          const how = recipeOf(name).running
          if (!running.has(name) || typeof how !== 'object') continue
          await adminReset(name, ctx(name), home, how.route)
          done({component: name, mode: 'running', action: `POST ${how.route}`, detail: how.detail})
        }
      }
      if (running.has('rabbitmq')) {
        const purged = await purgeAround(home, resetServices)
        done({
          component: 'rabbitmq',
          mode: 'running',
          action: 'purged every queue',
          detail: `${purged.messages} message(s) from ${purged.queues} queue(s), dead-letter queues included`,
        })
      } else {
        await resetServices()
        if (targets.some((name) => running.has(name) && getComponent(name).kind === 'service')) {
          warnings.push(
            'RabbitMQ is not running: events the running services accepted meanwhile wait in their outboxes and are published when it starts again',
          )
        }
      }

      if (running.has('redis')) {
        const keys = await deleteRedisKeys(ctx('redis'))
        done({
          component: 'redis',
          mode: 'running',
          action: 'deleted idempotency keys',
          detail: `${keys} key(s) matching ${redisKeyPatterns.join(', ')}`,
        })
      }

      for (const name of targets) {
        if (!running.has(name) || recipeOf(name).running !== 'stateless') continue
        done({
          component: name,
          mode: 'running',
          action: 'nothing to reset',
          detail: 'keeps no state of its own while it runs (its outbox empties into RabbitMQ)',
        })
      }

      for (const name of stopped) done(await removeStoppedData(home, name))
      if (request.withMinio) done(await clearMinio(running.has('minio') ? ctx('minio') : undefined))
    } catch (error) {
      if (!(error instanceof PocError)) throw error
      const already = targets.flatMap((name) => {
        const step = steps.get(name)
        return step ? [`already reset: ${name} (${step.action})`] : []
      })
      throw new PocError(error.message, {
        exitCode: error.exitCode,
        code: error.code,
        cause: error.cause,
        details: [...error.details, ...already],
        suggestions: [...error.suggestions, 'poc reset can run again once that is fixed.'],
      })
    }

    return {
      home: home.root,
      durationMs: clock.now() - began,
      steps: targets.flatMap((name) => {
        const step = steps.get(name)
        return step ? [step] : []
      }),
      warnings,
    }
  })
}

/**
 * A component counts as stopped when the state file says so, but deleting files under a process
 * that still uses them (a broker whose launcher died, a lost state file) would corrupt it.
 */
function assertNothingRunsFrom(home: PocHome, name: ComponentName): void {
  const pids = pidsWorkingUnder(home.dataDirOf(name))
  if (pids.length === 0) return
  throw new PocError(
    `${name} is not recorded as running, but pid ${pids.join(', ')} still runs from ${home.dataDirOf(name)}`,
    {
      code: 'untracked_process',
      suggestions: [
        'Stop everything with poc down (it also stops stray processes), then run poc reset again.',
      ],
    },
  )
}

/**
 * Purges every queue, lets what consumers already hold finish, runs `between` (the service
 * resets), then purges what that work published meanwhile: nothing from before the reset
 * survives it.
 */
async function purgeAround(
  home: PocHome,
  between: () => Promise<void>,
): Promise<{queues: number; messages: number}> {
  const broker = await findBroker(home, 'reset')
  return broker.withChannel(async (channel) => {
    const round = async () => purgeRound(channel, purgeableQueues(await broker.queueNames()))
    let {messages} = await round()
    for (let n = 0; n < maxSettleRounds; n++) {
      await delay(settleIntervalMs)
      const again = await round()
      messages += again.messages
      if (again.messages === 0) break
    }
    await between()
    const last = await round()
    return {queues: last.queues, messages: messages + last.messages}
  })
}

async function purgeRound(
  channel: ConfirmChannel,
  queues: string[],
): Promise<{queues: number; messages: number}> {
  let messages = 0
  for (const queue of queues) messages += (await channel.purgeQueue(queue)).messageCount
  return {queues: queues.length, messages}
}

async function adminReset(
  name: ComponentName,
  ctx: ComponentContext,
  home: PocHome,
  route: string,
): Promise<void> {
  const url = `http://${ctx.host}:${ctx.ports.http}${route}`
  const token = await readAdminToken(home.root)
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: token ? {authorization: `Bearer ${token}`} : {},
      signal: AbortSignal.timeout(adminTimeoutMs),
    })
  } catch (error) {
    throw new PocError(`${name} does not answer POST ${url}: ${errorMessage(error)}`, {
      code: 'admin_unreachable',
      cause: error,
      suggestions: [`See its state with poc status and its log with poc logs ${name}; poc up restarts it.`],
    })
  }
  if (response.ok) return
  const body = await response.text()
  throw new PocError(`${name} refused POST ${route}: ${response.status} ${body}`, {
    code: 'admin_refused',
    suggestions:
      response.status === 401
        ? [
            `${name} reads the token in ${path.join(home.root, 'secrets', 'admin-token')} when it starts; restart it to pick up a new one: poc down --only ${name} && poc up --only ${name}`,
          ]
        : [`See its log with poc logs ${name}.`],
  })
}

async function deleteRedisKeys(ctx: ComponentContext): Promise<number> {
  const where = `redis://${ctx.host}:${ctx.ports.redis}`
  const redis = new Redis({
    host: ctx.host,
    port: ctx.ports.redis,
    lazyConnect: true,
    connectTimeout: 5000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  })
  // Failures surface through the command that hit them.
  redis.on('error', () => undefined)
  try {
    await redis.connect()
    let deleted = 0
    for (const pattern of redisKeyPatterns) {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        if (keys.length > 0) deleted += await redis.unlink(...keys)
        cursor = next
      } while (cursor !== '0')
    }
    return deleted
  } catch (error) {
    throw new PocError(`cannot delete the idempotency keys in Redis at ${where}: ${errorMessage(error)}`, {
      code: 'redis_unreachable',
      cause: error,
      suggestions: ['See its state with poc status and its log with poc logs redis; poc up restarts it.'],
    })
  } finally {
    redis.disconnect()
  }
}

async function removeStoppedData(home: PocHome, name: ComponentName): Promise<ResetStep> {
  const dir = home.dataDirOf(name)
  if (!(await exists(dir))) {
    return {
      component: name,
      mode: 'absent',
      action: 'nothing to reset',
      detail: `not running, no data in ${dir}`,
    }
  }
  await removeComponentData(home, name, recipeOf(name).keep)
  return {
    component: name,
    mode: 'stopped',
    action: 'deleted its data',
    detail: `${dir}: ${recipeOf(name).data}`,
  }
}

/** Deletes every object under compliance/ and timesheets/ of every bucket, through the S3 API, while it runs. */
async function clearMinio(ctx: ComponentContext | undefined): Promise<ResetStep> {
  if (!ctx) {
    return {component: 'minio', mode: 'absent', action: 'nothing to clear', detail: 'not part of this stack'}
  }
  const store = objectStoreOf(ctx, await readS3ServerSettings(ctx.dataDir))
  try {
    const cleared = await clearObjectPrefixes(store, objectPrefixes)
    return {
      component: 'minio',
      mode: 'running',
      action: `deleted ${objectPrefixes.map((p) => `${p}/`).join(' and ')}`,
      detail: `${cleared.objects} object(s) in ${cleared.buckets} bucket(s) at ${store.endpoint}`,
    }
  } catch (error) {
    throw new PocError(`cannot clear minio's objects at ${store.endpoint}: ${errorMessage(error)}`, {
      code: 'minio_unreachable',
      cause: error,
      suggestions: ['See its state with poc status and its log with poc logs minio; poc up restarts it.'],
    })
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}
