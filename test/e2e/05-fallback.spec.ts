import path from 'node:path'
import {execa} from 'execa'
import {apiBadge, apiLiveText, openUiPage} from '../../src/checks/ui/flow.js'
import {expect, test} from './fixtures.js'

// pm stopped under a running UI: the badge says so, the page shows what it cached, and the UI
// reports fetch_failed / mock_fallback, which pm holds once it is back (what the
// TelemetryFallbackSpike alert counts). Last, because it stops and starts pm of the stack.
const cli = path.resolve(import.meta.dirname, '..', '..', 'bin', 'run.js')

async function poc(home: string, ...args: string[]): Promise<void> {
  await execa(process.execPath, [cli, ...args], {env: {POC_HOME: home}, timeout: 120_000})
}

test('with pm stopped the badge says so, the page falls back, and pm later holds the mock_fallback event', async ({
  page,
  stack,
  request,
  allowProblems,
}) => {
  test.setTimeout(180_000)
  const since = new Date().toISOString()
  await openUiPage(page, stack.uiUrl, 'projects')
  const liveRows = await page.locator('article, table tbody tr').count()
  expect(liveRows).toBeGreaterThan(0)

  // What the UI provokes while pm is away: its requests answered 503 by its own proxy.
  allowProblems(/HTTP 50[23]|request failed|console error: .*(503|502|Failed to load|upstream)/i)
  await poc(stack.home, 'down', '--only', 'pm')
  try {
    await page.reload()
    await expect(apiBadge(page)).not.toContainText(apiLiveText)
    await expect(page.locator('article, table tbody tr').first()).toBeVisible()
  } finally {
    await poc(stack.home, 'up', '--only', 'pm')
  }
  await expect(apiBadge(page)).toContainText(apiLiveText, {timeout: 30_000})
  await expect
    .poll(
      async () => {
        const response = await request.get(
          `${stack.pmUrl}/api/v1/telemetry/ui?component=ui&event=mock_fallback&since=${encodeURIComponent(since)}`,
        )
        return ((await response.json()) as {total: number}).total
      },
      {timeout: 30_000, message: 'pm holds the UI mock_fallback event sent after it came back'},
    )
    .toBeGreaterThan(0)
})
