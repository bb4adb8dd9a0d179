import type {Page} from 'playwright-core'

/** What went wrong in a page while a check drove it, as one line each. */
export interface PageProblems {
  /** Every problem seen, newest last. */
  all(): string[]
  /** The problems no `allow` pattern covers. */
  unexpected(): string[]
  /** Problems matching this are expected (a spec that stops pm provokes failed requests). */
  allow(pattern: RegExp): void
}

/**
 * Watches a page for what a user would call broken: console errors, uncaught exceptions,
 * requests that failed and answers of 400 or more. A request the page gave up itself is not a
 * failure: the browser reports net::ERR_ABORTED for a fetch the page aborted (a newer filter
 * superseding it) and for a stream it closes when it navigates away.
 */
export function watchPage(page: Page): PageProblems {
  const seen: string[] = []
  const allowed: RegExp[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') seen.push(`console error: ${message.text()} (${message.location().url})`)
  })
  page.on('pageerror', (error) => seen.push(`uncaught: ${error.message}`))
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText ?? 'failed'
    if (failure === 'net::ERR_ABORTED') return
    seen.push(`request failed: ${request.method()} ${request.url()}: ${failure}`)
  })
  page.on('response', (response) => {
    if (response.status() >= 400) {
      seen.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`)
    }
  })
  return {
    all: () => [...seen],
    unexpected: () => seen.filter((line) => !allowed.some((pattern) => pattern.test(line))),
    allow: (pattern) => allowed.push(pattern),
  }
}
