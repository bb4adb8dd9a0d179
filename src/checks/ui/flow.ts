import type {Locator, Page} from 'playwright-core'

/**
 * The UI's live flow, driven in a real browser as a user clicks it: create a project and a
 * timesheet, submit and approve it, see the metrics panel of another tab move with the stream,
 * and find the invoice in compliance. Smoke scenario 14 and the Playwright specs run this same
 * code, so `poc smoke` and `npm test` prove the same thing. It finds elements by the labels,
 * buttons and test ids the seed's UI and its specs use.
 */
export interface UiFlowOptions {
  /** The UI's base URL, e.g. http://127.0.0.1:4000. */
  baseUrl: string
  /** Names what this run creates, so runs never collide. */
  runId: string
  /** How long the invoice may take to show in compliance after the approval. */
  invoiceTimeoutMs?: number
  /** Called after each page is ready (a screenshot, a note). */
  onPage?: (name: UiPageName, page: Page) => Promise<void>
  note?: (text: string) => void
}

export const uiPages = {
  overview: '/',
  projects: '/projects',
  timesheets: '/timesheets',
  compliance: '/compliance',
  telemetry: '/telemetry',
} as const
export type UiPageName = keyof typeof uiPages

export interface UiFlowResult {
  projectCode: string
  member: string
  timesheetId: string
  /** Step name → ms, in order. */
  steps: Record<string, number>
  /** From the approve click until the overview's panel showed it, pushed by the stream. */
  metricsUpdateMs: number
  /** From the approve click until the invoice was listed in compliance. */
  invoiceVisibleMs: number
  totalMs: number
}

/** The badge every data page shows while pm answers. */
export const apiLiveText = 'API live'

/**
 * How long a page may take to show it: the UI asks pm on load and again every 5 s, so this covers
 * two retries. A page still offline after that is reported then, not at the 20 s step timeout.
 */
const liveTimeoutMs = 12_000

/** Opens a page of the UI and waits until it shows pm's data; answers how long that took. */
export async function openUiPage(
  page: Page,
  baseUrl: string,
  name: UiPageName,
): Promise<{loadMs: number; liveMs: number}> {
  const began = performance.now()
  await page.goto(new URL(uiPages[name], baseUrl).toString(), {waitUntil: 'load'})
  const loadMs = performance.now() - began
  try {
    await apiBadge(page).filter({hasText: apiLiveText}).waitFor({state: 'visible', timeout: liveTimeoutMs})
  } catch (error) {
    // Say what the page shows instead, and the UI's own explanation (the badge's title).
    const badge = apiBadge(page)
    const shown = await badge.innerText({timeout: 500}).catch(() => undefined)
    const why = await badge.getAttribute('title', {timeout: 500}).catch(() => null)
    throw new Error(
      shown === undefined
        ? `the ${name} page shows no API badge (${firstLine(error)})`
        : `the ${name} page says "${shown}", not "${apiLiveText}"${why ? `: ${why}` : ''}`,
      {cause: error},
    )
  }
  return {loadMs, liveMs: performance.now() - began}
}

export function apiBadge(page: Page): Locator {
  return page.getByTestId('api-status')
}

export async function runUiFlow(page: Page, options: UiFlowOptions): Promise<UiFlowResult> {
  const began = performance.now()
  const steps: Record<string, number> = {}
  let mark = began
  const step = (name: string) => {
    const at = performance.now()
    steps[name] = Math.round(at - mark)
    mark = at
    options.note?.(`${name}: ${steps[name]} ms`)
  }
  const suffix = options.runId
    .replaceAll(/[^A-Za-z0-9]/g, '')
    .slice(-10)
    .toUpperCase()
  const projectCode = `UI-${suffix}`
  const member = `UI Smoke ${suffix}`

  // The overview in a tab of its own stays open: its panel must move with the stream, unreloaded.
  // On failure it is left open, so the caller's screenshots show it too.
  const overview = await page.context().newPage()
  await openUiPage(overview, options.baseUrl, 'overview')
  await options.onPage?.('overview', overview)
  const approvedBefore = await approvedCount(overview)
  // The flow's own tab in front again: a background tab gets no animation frames, and every
  // wait on it would crawl (seconds per step under playwright-core's defaults).
  await page.bringToFront()
  step('overview')

  await openUiPage(page, options.baseUrl, 'projects')
  await page.getByTestId('projects-create-name').fill(`UI smoke ${suffix}`)
  await page.getByTestId('projects-create-code').fill(projectCode)
  await page.getByLabel('クライアント').fill('poc smoke')
  await page.getByTestId('projects-create-submit').click()
  await page.getByTestId('projects-create-message').filter({hasText: projectCode}).waitFor()
  await page.getByTestId('project-card').filter({hasText: projectCode}).first().waitFor()
  await options.onPage?.('projects', page)
  step('project created')

  // A draft, so that submitting is a click of its own, as a member does it.
  await openUiPage(page, options.baseUrl, 'timesheets')
  await page.getByTestId('timesheets-create-member').fill(member)
  await page.getByTestId('timesheets-create-project').fill(projectCode)
  await page.getByTestId('timesheets-create-hours').fill('6')
  await page.getByLabel('ステータス').selectOption('draft')
  await page.getByTestId('timesheets-create-submit').click()
  await page
    .getByTestId('timesheets-create-message')
    .filter({hasText: 'タイムシートを追加しました'})
    .waitFor()
  // The list shows every status, so the row stays in view through its transitions.
  await page.getByTestId('timesheets-status-filter').getByRole('button', {name: 'All'}).click()
  const row = page.getByTestId('timesheet-row').filter({hasText: member}).first()
  await row.waitFor()
  const timesheetId = (await row.getAttribute('data-timesheet-id')) ?? ''
  if (!timesheetId) throw new Error(`the new timesheet's row for ${member} carries no data-timesheet-id`)
  await row.getByTestId('timesheet-status').filter({hasText: 'Draft'}).waitFor()
  step('timesheet created')
  await row.getByTestId('timesheet-action-submit').click()
  await row.getByTestId('timesheet-status').filter({hasText: 'Submitted'}).waitFor()
  step('timesheet submitted')
  await row.getByTestId('timesheet-action-approve').click()
  const approvedAt = performance.now()
  await row.getByTestId('timesheet-status').filter({hasText: 'Approved'}).waitFor()
  await options.onPage?.('timesheets', page)
  step('timesheet approved')

  // Evaluated in the page (a string: this module is not compiled against the DOM's types).
  await overview.waitForFunction(
    `Number(document.querySelector('${approvedSelector}')?.textContent ?? 0) > ${approvedBefore}`,
    undefined,
    {timeout: 10_000},
  )
  const metricsUpdateMs = performance.now() - approvedAt
  step('metrics panel updated')

  await openUiPage(page, options.baseUrl, 'compliance')
  const deadline = approvedAt + (options.invoiceTimeoutMs ?? 15_000)
  const invoiceRow = page.getByTestId('compliance-row').filter({hasText: timesheetId}).first()
  for (;;) {
    await page.getByTestId('compliance-search-input').fill(timesheetId)
    await page.getByTestId('compliance-search-form').getByRole('button', {name: '検索'}).click()
    const found = await invoiceRow
      .waitFor({timeout: 1000})
      .then(() => true)
      .catch(() => false)
    if (found) break
    if (performance.now() > deadline) {
      throw new Error(
        `no invoice for ${timesheetId} in compliance ${Math.round(performance.now() - approvedAt)} ms after the approval`,
      )
    }
  }
  const invoiceVisibleMs = performance.now() - approvedAt
  await options.onPage?.('compliance', page)
  step('invoice in compliance')

  await overview.close()
  return {
    projectCode,
    member,
    timesheetId,
    steps,
    metricsUpdateMs: Math.round(metricsUpdateMs),
    invoiceVisibleMs: Math.round(invoiceVisibleMs),
    totalMs: Math.round(performance.now() - began),
  }
}

const approvedSelector = '[data-testid="metrics-timesheets-approved"]'

/** The overview panel's approved timesheets; a status with no timesheet has no line (0). */
async function approvedCount(page: Page): Promise<number> {
  await page.getByTestId('metrics-timesheets').waitFor()
  const cell = page.locator(approvedSelector)
  if ((await cell.count()) === 0) return 0
  const text = (await cell.innerText()).trim()
  const value = Number(text)
  if (!Number.isInteger(value)) throw new Error(`the panel's approved timesheets show "${text}"`)
  return value
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''
}
