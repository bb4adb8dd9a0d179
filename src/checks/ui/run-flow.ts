import {chromium} from 'playwright-core'
import type {SmokeFile} from '../smoke/types.js'
import {chromiumLaunchOptions} from './browser.js'
import {type UiFlowResult, runUiFlow, uiPages} from './flow.js'
import {watchPage} from './watch.js'

/**
 * One headless run of the UI flow in the system Chromium (smoke scenario 14). A console error or
 * a failed request fails it as the browser specs do. On failure every open page is attached as a
 * screenshot; the browser is closed however the run ends (an abort closes it at once).
 */
export async function runBrowserFlow(
  baseUrl: string,
  runId: string,
  signal: AbortSignal,
  report: {note: (text: string) => void; attach: (file: SmokeFile) => void},
): Promise<UiFlowResult> {
  const browser = await chromium.launch(chromiumLaunchOptions())
  const closeOnAbort = () => void browser.close()
  signal.addEventListener('abort', closeOnAbort, {once: true})
  try {
    const context = await browser.newContext({viewport: {width: 1280, height: 900}})
    // Every tab the flow opens is watched, the overview's too.
    const watchers = [] as Array<ReturnType<typeof watchPage>>
    context.on('page', (opened) => watchers.push(watchPage(opened)))
    const page = await context.newPage()
    const problems = () => watchers.flatMap((w) => w.unexpected())
    try {
      const result = await runUiFlow(page, {baseUrl, runId, note: report.note})
      const unexpected = problems()
      if (unexpected.length > 0) {
        throw new Error(
          `the UI worked, but with ${unexpected.length} problem(s): ${unexpected.slice(0, 3).join('; ')}`,
        )
      }
      return result
    } catch (error) {
      for (const [index, open] of context.pages().entries()) {
        const shot = await open.screenshot({fullPage: true}).catch(() => undefined)
        const name =
          Object.entries(uiPages).find(([, p]) => new URL(open.url()).pathname === p)?.[0] ?? `page${index}`
        if (shot) report.attach({name: `screenshots/14-ui-${index}-${name}.png`, data: shot})
      }
      for (const line of problems()) report.note(line)
      throw error
    }
  } finally {
    signal.removeEventListener('abort', closeOnAbort)
    await browser.close().catch(() => undefined)
  }
}
