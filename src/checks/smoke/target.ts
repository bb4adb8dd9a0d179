import {
  type ComponentContext,
  type ComponentName,
  type RuntimeName,
  catalog,
  getComponent,
} from '../../stack/catalog.js'
import {componentContext} from '../../stack/context.js'
import {ExitCode, PocError} from '../../stack/errors.js'
import type {PocHome} from '../../stack/home.js'
import {processesAlive} from '../../stack/native.js'
import {unavailableReason} from '../../stack/runtime.js'
import {readState} from '../../stack/state.js'

/** The stack in $POC_HOME as smoke sees it: no port flags, everything from the state file. */
export interface SmokeTarget {
  home: PocHome
  runtime: RuntimeName
  servicesInContainers: boolean
  portOffset: number
  /** What this stack should run: the default set this runtime can run, and whatever else was started. */
  expected: ComponentName[]
  /** Recorded with a live process. */
  running: Set<ComponentName>
  context(name: ComponentName): ComponentContext
  /** A service's HTTP base URL. */
  url(name: ComponentName): string
}

export async function loadTarget(home: PocHome): Promise<SmokeTarget> {
  const {state} = await readState(home, {moveCorruptAside: false})
  const running = new Set(
    (state?.components ?? []).filter((c) => processesAlive(c.processes)).map((c) => c.name),
  )
  if (!state || running.size === 0) {
    throw new PocError(`no stack is running at ${home.root}`, {
      exitCode: ExitCode.unavailable,
      code: 'stack_not_running',
      suggestions: ['Start it with: poc up', 'Or point POC_HOME at the stack to check.'],
    })
  }
  const recorded = new Set(state.components.map((c) => c.name))
  const expected = catalog
    .filter(
      (spec) =>
        recorded.has(spec.name) ||
        (spec.group === 'core' && !unavailableReason(spec, state.runtime, state.servicesInContainers)),
    )
    .map((spec) => spec.name)
  const context = (name: ComponentName) => componentContext(name, home, state.portOffset)
  return {
    home,
    runtime: state.runtime,
    servicesInContainers: state.servicesInContainers ?? false,
    portOffset: state.portOffset,
    expected,
    running,
    context,
    url: (name) => {
      const ctx = context(name)
      return `http://${ctx.host}:${ctx.ports.http}`
    },
  }
}

/** Why a component of the catalog cannot be checked in this stack, if it cannot. */
export function notRunnableReason(target: SmokeTarget, name: ComponentName): string | undefined {
  return unavailableReason(getComponent(name), target.runtime, target.servicesInContainers)
}
