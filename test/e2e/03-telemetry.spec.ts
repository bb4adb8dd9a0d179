import {openUiPage} from '../../src/checks/ui/flow.js'
import {expect, test} from './fixtures.js'

// A probe posted to pm shows in the telemetry page's table, found by the filters a user sets.
test('a telemetry probe posted to pm shows in the telemetry table, filtered by detail path', async ({
  page,
  stack,
  request,
}) => {
  const marker = `e2e-probe-${Date.now().toString(36)}`
  const posted = await request.post(`${stack.pmUrl}/api/v1/telemetry/ui`, {
    data: {component: 'e2e', event: 'probe', level: 'info', detail: {marker}},
  })
  expect(posted.status()).toBe(204)

  await openUiPage(page, stack.uiUrl, 'telemetry')
  await page.getByTestId('telemetry-filter-component').fill('e2e')
  await page.getByTestId('telemetry-filter-detail-path').fill('$.detail.marker')
  await page.getByTestId('telemetry-filter-detail').fill(marker)
  await page.getByTestId('telemetry-filter-apply').click()
  const table = page.getByTestId('telemetry-table')
  await expect(table.locator('tbody tr', {hasText: marker})).toHaveCount(1)
  await expect(page.getByTestId('telemetry-total')).toContainText('1')
})

test('the telemetry page refreshes by itself (?pollMs=) and shows a new event without a click', async ({
  page,
  stack,
  request,
}) => {
  await page.goto(new URL('/telemetry?pollMs=500', stack.uiUrl).toString())
  await expect(page.getByTestId('api-status')).toContainText('API live')
  const marker = `e2e-poll-${Date.now().toString(36)}`
  await request.post(`${stack.pmUrl}/api/v1/telemetry/ui`, {
    data: {component: 'e2e', event: 'poll', level: 'warn', detail: {marker}},
  })
  await expect(page.getByTestId('telemetry-table').locator('tbody tr', {hasText: marker})).toHaveCount(1, {
    timeout: 5000,
  })
})
