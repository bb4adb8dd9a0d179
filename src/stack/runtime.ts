import {type ComponentSpec, type RuntimeName} from './catalog.js'
import {ExitCode, PocError} from './errors.js'

export type RuntimeChoice = RuntimeName | 'auto'

/**
 * `auto` means docker, then podman, then native (SPEC §2.1). The container runtimes have not
 * landed yet, so auto resolves to native and an explicit docker or podman says so.
 */
export function resolveRuntime(choice: RuntimeChoice): RuntimeName {
  if (choice === 'auto' || choice === 'native') return 'native'
  throw new PocError(`the ${choice} runtime is not implemented yet`, {
    exitCode: ExitCode.unavailable,
    code: 'runtime_not_implemented',
    suggestions: ['Use --runtime native (the default): it runs the real servers installed by npm run setup.'],
  })
}

/** Why a component cannot run under this runtime, or undefined when it can. */
export function unavailableReason(spec: ComponentSpec, runtime: RuntimeName): string | undefined {
  if (runtime === 'native' && !spec.native)
    return `${spec.name} has no native form; it needs a container runtime (docker or podman)`
  return undefined
}
