import {ExitCode, PocError, usageError} from './errors.js'
import {
  type EngineRuntimeName,
  autoEngineRuntime,
  describeAddress,
  openEngine,
  reconnect,
  startPodmanService,
} from './engine/connect.js'
import {EngineRuntime} from './engine/engine-runtime.js'
import type {PocHome} from './home.js'
import {processesAlive} from './native.js'
import {NativeRuntime, type Runtime, type RuntimeChoice} from './runtime.js'
import type {StackState} from './state.js'

export interface RuntimeOptions {
  servicesInContainers: boolean
  offline: boolean
}

/**
 * A runtime for a new stack: `auto` means docker if its engine answers, else podman if its
 * socket or binary is there, else native (SPEC §2.1).
 */
export async function newRuntime(
  choice: RuntimeChoice,
  home: PocHome,
  portOffset: number,
  options: RuntimeOptions,
): Promise<Runtime> {
  const name = choice === 'auto' ? ((await autoEngineRuntime()) ?? 'native') : choice
  if (name === 'native') {
    if (options.servicesInContainers) {
      throw usageError('--services-in-containers needs a container runtime', [
        'Add --runtime podman (or docker), or leave the flag out.',
      ])
    }
    return new NativeRuntime()
  }
  return new EngineRuntime(await openEngine(name, home), home, portOffset, options)
}

/**
 * The runtime of a recorded stack, connected again. A podman service poc started that has
 * died is started again on the same socket, so the stack's containers can still be reached.
 */
export async function runtimeForState(
  state: StackState,
  home: PocHome,
  options: Partial<RuntimeOptions> = {},
): Promise<Runtime> {
  if (state.runtime === 'native') return new NativeRuntime()
  const recorded = state.engine
  if (!recorded) throw new PocError(`the state file records a ${state.runtime} stack without its engine`)
  const runtime = state.runtime as EngineRuntimeName
  const address = {
    socketPath: recorded.socketPath,
    host: recorded.host,
    port: recorded.port,
    source: recorded.source,
  }
  let engine = await reconnect(address, runtime)
  if (engine && recorded.service && processesAlive([recorded.service])) engine.service = recorded.service
  if (!engine && recorded.service) engine = await startPodmanService(home)
  if (!engine) {
    throw new PocError(
      `the ${runtime} engine of the stack in ${home.root} no longer answers at ${describeAddress(address)}`,
      {
        exitCode: ExitCode.unavailable,
        code: 'engine_gone',
        suggestions: [`Start the ${runtime} engine again, then run the command again.`],
      },
    )
  }
  return new EngineRuntime(engine, home, state.portOffset, {
    servicesInContainers: options.servicesInContainers ?? state.servicesInContainers ?? false,
    offline: options.offline ?? false,
  })
}
