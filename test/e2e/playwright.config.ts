import path from 'node:path'
import {defineConfig} from '@playwright/test'
import {chromiumLaunchOptions} from '../../src/checks/ui/browser.js'
import {uiTarget} from './target.js'

// The browser specs against a running stack: `npm run test:e2e:live` (the stack of $POC_HOME,
// default ./.poc), or the test stack npm test brings up (test/integration/ui-browser.test.ts sets
// POC_HOME and E2E_ARTIFACTS). The system Chromium; Playwright's own browsers cannot be fetched here.
const target = uiTarget()
const artifacts = process.env.E2E_ARTIFACTS ?? path.resolve('results', 'e2e')

export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.ts',
  outputDir: path.join(artifacts, 'output'),
  timeout: 90_000,
  expect: {timeout: 10_000},
  // One stack, and the specs change it (one stops pm): one at a time, in file order.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [
    ['list'],
    ['json', {outputFile: path.join(artifacts, 'results.json')}],
    ['html', {open: 'never', outputFolder: path.join(artifacts, 'report')}],
  ],
  use: {
    baseURL: target.uiUrl,
    launchOptions: chromiumLaunchOptions(),
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    viewport: {width: 1280, height: 900},
  },
})
