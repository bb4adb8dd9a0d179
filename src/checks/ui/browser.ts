import type {BinaryRequirement} from '../../stack/catalog.js'
import {findBinary} from '../../stack/native.js'

/**
 * The browser the UI checks drive: the system Chromium (Debian's `chromium`), never a download
 * of Playwright's own (`npx playwright install` needs a network this machine does not have).
 * `POC_CHROMIUM` points at another Chromium-based binary.
 */
export const chromiumRequirement: BinaryRequirement = {
  name: 'chromium',
  candidates: ['/usr/bin/chromium'],
  debianPackage: 'chromium',
  searchPath: true,
}

/** As root and in containers Chromium's sandbox cannot start; no GPU; no calls home. */
export const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-background-networking']

export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const wanted = env.POC_CHROMIUM?.trim()
  if (wanted) return findBinary({...chromiumRequirement, candidates: [wanted], searchPath: false})
  return findBinary(chromiumRequirement, env.PATH)
}

/** Why the browser checks cannot run here, with the fix, or undefined when they can. */
export function chromiumMissingReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (findChromium(env)) return undefined
  return env.POC_CHROMIUM?.trim()
    ? `POC_CHROMIUM=${env.POC_CHROMIUM} is not an executable`
    : 'Chromium is not installed (apt-get install -y chromium, or npm run setup; POC_CHROMIUM names another binary)'
}

/** Launch options for playwright-core's chromium.launch and @playwright/test's launchOptions. */
export function chromiumLaunchOptions(env: NodeJS.ProcessEnv = process.env): {
  executablePath: string
  args: string[]
  headless: boolean
} {
  const executablePath = findChromium(env)
  if (!executablePath) throw new Error(chromiumMissingReason(env))
  return {executablePath, args: chromiumArgs, headless: true}
}
