import {type ObjectStoreConfig, objectStoreFromEnv} from '../contract/object-store.js'
import {type ComponentContext, type ComponentName, hostObjectStoreEnv} from './catalog.js'
import {componentContext} from './context.js'
import {ExitCode, PocError} from './errors.js'
import type {PocHome} from './home.js'
import {processesAlive} from './native.js'
import {readS3ServerSettings} from './s3-server.js'
import {readState} from './state.js'

/**
 * Where a component of the stack in $POC_HOME answers (its ports with the stack's offset), or
 * an error (exit 3) saying it is not running and how to start it. For commands that talk to
 * a running stack: dlq, produce, smoke.
 */
export async function runningComponent(home: PocHome, name: ComponentName): Promise<ComponentContext> {
  const {state} = await readState(home, {moveCorruptAside: false})
  const record = state?.components.find((c) => c.name === name)
  if (!state || !record || !processesAlive(record.processes)) {
    throw new PocError(`${name} is not running in the stack at ${home.root}`, {
      exitCode: ExitCode.unavailable,
      code: 'stack_not_running',
      suggestions: [
        name === 'minio'
          ? 'Start it with: poc up --with minio'
          : `Start it with: poc up${name === 'rabbitmq' ? '' : ` (or poc up --only ${name})`}`,
      ],
    })
  }
  return componentContext(name, home, state.portOffset)
}

/** The base URL of a running service's HTTP port. */
export async function serviceUrl(home: PocHome, name: ComponentName): Promise<string> {
  const ctx = await runningComponent(home, name)
  return `http://${ctx.host}:${ctx.ports.http}`
}

/**
 * The object store of the running stack as this host reaches it (its published port): for
 * poc produce --with-attachments and smoke; an error (exit 3) when minio is not in the stack.
 * MINIO_PRESIGN_SECONDS, MINIO_MAX_RETRIES and MINIO_RETRY_BACKOFF_MS of the caller apply.
 */
export async function runningObjectStore(
  home: PocHome,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ObjectStoreConfig> {
  const ctx = await runningComponent(home, 'minio')
  const tuning = ['MINIO_PRESIGN_SECONDS', 'MINIO_MAX_RETRIES', 'MINIO_RETRY_BACKOFF_MS'] as const
  const passed = Object.fromEntries(
    tuning.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])),
  )
  try {
    // The credentials and bucket the server was started with (kept beside its data).
    const server = await readS3ServerSettings(ctx.dataDir)
    return objectStoreFromEnv({...passed, ...hostObjectStoreEnv(ctx.ports, server)}) as ObjectStoreConfig
  } catch (error) {
    throw new PocError((error as Error).message, {exitCode: ExitCode.usage, code: 'bad_config'})
  }
}
