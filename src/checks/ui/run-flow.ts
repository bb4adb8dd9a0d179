import type {BrowserContext} from 'playwright-core'
import type {SmokeFile} from '../smoke/types.js'
import {chromiumLaunchOptions} from './browser.js'
import {type UiFlowResult, runUiFlow, uiPages} from './flow.js'
import {watchPage} from './watch.js'

/**
 * One headless run of the UI flow in the system Chromium (smoke scenario 14). A console error or
 * a failed request fails it as the browser specs do. On failure, and on the scenario's deadline,
 * every open page is attached as a screenshot; the browser is closed however the run ends.
 */
export async function runBrowserFlow(
  baseUrl: string,
  runId: string,
  signal: AbortSignal,
  report: {note: (text: string) => void; attach: (file: SmokeFile) => void},
): Promise<UiFlowResult> {
  // playwright-core is 7 MB of JavaScript: loaded when a browser is wanted, not by every `poc smoke`.
  const {chromium} = await import('playwright-core')
  const browser = await chromium.launch(chromiumLaunchOptions())
  const context = await browser.newContext({viewport: {width: 1280, height: 900}}).catch(async (error) => {
    await browser.close()
    throw error
  })
  // One stuck step fails with Playwright's own message well before the scenario's deadline.
  context.setDefaultTimeout(stepTimeoutMs)
  let captured: Promise<void> | undefined
  const capture = () => (captured ??= screenshots(context, report.attach))
  // At the deadline the runner waits a second for the scenario: enough for the screenshots.
  const onAbort = () => void capture().finally(() => browser.close())
  signal.addEventListener('abort', onAbort, {once: true})
  try {
    // Every tab the flow opens is watched, the overview's too.
    const watchers = [] as Array<ReturnType<typeof watchPage>>
    context.on('page', (opened) => watchers.push(watchPage(opened)))
    const page = await context.newPage()
    const problems = () => watchers.flatMap((w) => w.unexpected())
    let done = ''
    const note = (text: string) => {
      done = text.replace(/: \d+ ms$/, '')
      report.note(text)
    }
    try {
      const result = await runUiFlow(page, {baseUrl, runId, note})
      const unexpected = problems()
      if (unexpected.length > 0) {
        throw new Error(
          `the UI worked, but with ${unexpected.length} problem(s): ${unexpected.slice(0, 3).join('; ')}`,
        )
      }
      return result
    } catch (error) {
      await capture()
      for (const line of problems()) report.note(line)
      // Playwright's message carries its call log in colour: the first line says what failed.
      const message = error instanceof Error ? error.message : String(error)
      report.note(stripAnsi(message))
      const first = stripAnsi(message).split('\n')[0]?.trim() ?? 'failed'
      throw new Error(`${first} (${done ? `the flow got as far as: ${done}` : 'on the first page'})`, {
        cause: error,
      })
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    await browser.close().catch(() => undefined)
  }
}

const stepTimeoutMs = 20_000

/** Every open page as a PNG for the failure artifacts, named after the UI page it shows. */
async function screenshots(context: BrowserContext, attach: (file: SmokeFile) => void): Promise<void> {
  for (const [index, open] of context.pages().entries()) {
    const shot = await open.screenshot({fullPage: true, timeout: 800}).catch(() => undefined)
    const pathname = URL.canParse(open.url()) ? new URL(open.url()).pathname : ''
    const name = Object.entries(uiPages).find(([, p]) => pathname === p)?.[0] ?? `page${index}`
    if (shot) attach({name: `screenshots/14-ui-${index}-${name}.png`, data: shot})
  }
}

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replaceAll(/\u001B\[[0-9;]*m/g, '')
}
