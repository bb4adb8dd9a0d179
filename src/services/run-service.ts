import {access, rm} from 'node:fs/promises'
import {setTimeout as delay} from 'node:timers/promises'
import {type RunningService, services} from './registry.js'

/*
 * What starting one service takes, without oclif: `bin/service.js <name>` (how poc up and the
 * services image start every service) and `poc service run <name>` (the same for a user) both
 * come here. Loading oclif and its command manifest cost each service ~0.3 s of CPU at start,
 * seven times over in parallel on `poc up`.
 */

export class UnknownServiceError extends Error {
  constructor(readonly service: string | undefined) {
    super(
      service
        ? `there is no service named ${service}, or it has not landed yet`
        : 'which service? name one to run',
    )
  }
}

/**
 * poc up starts a service before RabbitMQ is ready, so its code loads meanwhile, and names a
 * gate file (POC_START_GATE) it creates once the service's dependencies are ready. Until then
 * the process only polls for it; SIGTERM ends it at once (no handler is installed yet).
 */
async function untilExists(file: string): Promise<void> {
  for (;;) {
    try {
      await access(file)
      break
    } catch {
      await delay(10)
    }
  }
  await rm(file, {force: true})
}

/** The services that can run, in the registry's order. */
export const serviceNames = Object.keys(services)

/**
 * Starts the named service with its configuration from `env`, keeps it until SIGTERM or SIGINT,
 * then closes it gracefully (stops taking work, finishes what is in flight, flushes its state).
 */
export async function runService(
  name: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const load = name === undefined ? undefined : services[name as keyof typeof services]
  if (!load) throw new UnknownServiceError(name)
  const main = await load()
  const gate = env.POC_START_GATE
  if (gate) await untilExists(gate)
  const service: RunningService = await main(env)
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })
  await service.close()
}
