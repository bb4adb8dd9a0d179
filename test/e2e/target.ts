import {readFileSync} from 'node:fs'
import {publicUrls} from '../../src/stack/context.js'
import {resolveHome} from '../../src/stack/home.js'

/**
 * Where the browser specs find the stack: the state file of $POC_HOME (default ./.poc), as every
 * poc command does, so a stack on a port offset is found without flags. PLAYWRIGHT_BASE_URL
 * overrides the UI's address (a UI served elsewhere, with pm where the stack has it).
 */
export interface UiTarget {
  home: string
  portOffset: number
  uiUrl: string
  pmUrl: string
  fiUrl: string
}

export function uiTarget(env: NodeJS.ProcessEnv = process.env): UiTarget {
  const home = resolveHome(env)
  let portOffset = 0
  try {
    portOffset = (JSON.parse(readFileSync(home.stateFile, 'utf8')) as {portOffset?: number}).portOffset ?? 0
  } catch {
    // No stack recorded there: the default ports; the first request says what is missing.
  }
  const http = (name: 'ui' | 'pm' | 'fi') => publicUrls(name, home, portOffset).http as string
  return {
    home: home.root,
    portOffset,
    uiUrl: env.PLAYWRIGHT_BASE_URL ?? http('ui'),
    pmUrl: http('pm'),
    fiUrl: http('fi'),
  }
}
