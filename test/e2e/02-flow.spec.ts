import {runUiFlow} from '../../src/checks/ui/flow.js'
import {expect, recordTiming, test} from './fixtures.js'

// The live flow smoke scenario 14 runs, here with its steps reported, then checked against pm
// and fi behind the UI: the invoice the UI showed is the one fi holds for that timesheet.
test('create a project and a timesheet, submit, approve: the invoice shows in compliance and the panel moves', async ({
  page,
  stack,
  request,
}) => {
  const result = await runUiFlow(page, {
    baseUrl: stack.uiUrl,
    runId: `e2e-${Date.now().toString(36)}`,
    note: (text) => console.log(`  ${text}`),
  })
  recordTiming('live flow: total', result.totalMs)
  recordTiming('live flow: approve → invoice in compliance', result.invoiceVisibleMs)
  recordTiming('live flow: approve → metrics panel', result.metricsUpdateMs)
  expect(result.invoiceVisibleMs).toBeLessThan(15_000)

  const timesheet = await request.get(`${stack.pmUrl}/api/v1/timesheets?limit=1000`)
  const item = ((await timesheet.json()).items as Array<Record<string, unknown>>).find(
    (t) => t.id === result.timesheetId,
  )
  expect(item?.status).toBe('approved')
  expect(item?.projectCode).toBe(result.projectCode)
  const invoices = await request.get(`${stack.fiUrl}/invoices`)
  const fromFi = ((await invoices.json()).items as Array<Record<string, unknown>>).filter(
    (i) => i.timesheetId === result.timesheetId,
  )
  expect(fromFi).toHaveLength(1)
})
