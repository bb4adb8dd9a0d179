import {openUiPage, uiPages, type UiPageName} from '../../src/checks/ui/flow.js'
import {expect, recordTiming, test} from './fixtures.js'

// Every page loads on the live stack, shows pm's data ("API live"), and has no console error
// and no failed request (the fixture checks after each test). A screenshot of each is kept.
const headings: Record<UiPageName, RegExp> = {
  overview: /UI PoC 概要/,
  projects: /Projects PoC/,
  timesheets: /Timesheets PoC/,
  compliance: /Compliance PoC/,
  telemetry: /Telemetry Monitor/,
}

for (const name of Object.keys(uiPages) as UiPageName[]) {
  test(`${name} (${uiPages[name]}) loads with pm's data, no console error, no failed request`, async ({
    page,
    stack,
    capture,
  }) => {
    const {loadMs, liveMs} = await openUiPage(page, stack.uiUrl, name)
    await expect(page.getByRole('heading', {name: headings[name]})).toBeVisible()
    await page.waitForLoadState('networkidle').catch(() => undefined)
    recordTiming(`page ${name}: load`, loadMs)
    recordTiming(`page ${name}: API live`, liveMs)
    await capture(name)
  })
}

test('a deep link is served by the app and an unknown page says so', async ({page, stack}) => {
  const response = await page.goto(new URL('/projects?status=active', stack.uiUrl).toString())
  expect(response?.status()).toBe(200)
  await expect(page.getByRole('heading', {name: /Projects PoC/})).toBeVisible()
  await page.goto(new URL('/no-such-page', stack.uiUrl).toString())
  await expect(page.getByRole('heading', {name: 'Page not found'})).toBeVisible()
})
