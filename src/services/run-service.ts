import {type RunningService, services} from './registry.js'
import {setStartGate} from './shared/start-gate.js'

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
  // poc up starts it before its dependencies are ready: main does what needs none of them, then
  // waits for the gate file (shared/start-gate.ts). SIGTERM meanwhile ends it at once (no handler yet).
  setStartGate(env.POC_START_GATE)
  const service: RunningService = await main(env)
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })
  await service.close()
}
