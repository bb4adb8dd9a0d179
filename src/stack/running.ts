import type {ComponentContext, ComponentName} from './catalog.js'
import {componentContext} from './context.js'
import {ExitCode, PocError} from './errors.js'
import type {PocHome} from './home.js'
import {processesAlive} from './native.js'
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
      suggestions: [`Start it with: poc up${name === 'rabbitmq' ? '' : ` (or poc up --only ${name})`}`],
    })
  }
  return componentContext(name, home, state.portOffset)
}

/** The base URL of a running service's HTTP port. */
export async function serviceUrl(home: PocHome, name: ComponentName): Promise<string> {
  const ctx = await runningComponent(home, name)
  return `http://${ctx.host}:${ctx.ports.http}`
}
