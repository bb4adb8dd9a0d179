import assert from 'node:assert/strict'
import {existsSync, mkdirSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {execa} from 'execa'
import {chromiumMissingReason} from '../../src/checks/ui/browser.js'
import {cleanup, makeHome, parseJson, repoRoot, runPoc, testPortOffsets, upStack} from '../helpers.js'

// The Playwright specs of test/e2e (what `npm run test:e2e:live` runs against a developer's
// stack) against this file's own stack, then smoke scenario 14 as a user runs it. Each spec
// becomes a subtest here, so node's summary counts them. Screenshots of every page go to
// results/e2e/screenshots (CI keeps results/).
const skip = chromiumMissingReason() ?? false
const artifacts = path.join(repoRoot, 'results', 'e2e')

interface PlaywrightSpec {
  title: string
  tests: Array<{results: Array<{status: string; duration: number; error?: {message?: string}}>}>
}
interface PlaywrightSuite {
  title: string
  specs?: PlaywrightSpec[]
  suites?: PlaywrightSuite[]
}

function specsOf(suite: PlaywrightSuite, prefix: string[] = []): Array<{name: string; spec: PlaywrightSpec}> {
  const names = suite.title && !suite.title.endsWith('.spec.ts') ? [...prefix, suite.title] : prefix
  return [
    ...(suite.specs ?? []).map((spec) => ({name: [...names, spec.title].join(' › '), spec})),
    ...(suite.suites ?? []).flatMap((child) => specsOf(child, names)),
  ]
}

describe(
  'the web UI in a real browser (Playwright specs, smoke scenario 14)',
  {skip, timeout: 900_000},
  () => {
    const home = makeHome('ui-browser')

    before(async () => {
      rmSync(artifacts, {recursive: true, force: true})
      mkdirSync(artifacts, {recursive: true})
      await upStack(home, testPortOffsets.smokeUi)
    })
    after(() => cleanup(home))

    it('passes every Playwright spec of test/e2e against the stack', async (t) => {
      const run = await execa(
        process.execPath,
        [
          path.join(repoRoot, 'node_modules', '@playwright', 'test', 'cli.js'),
          'test',
          '-c',
          'test/e2e/playwright.config.ts',
        ],
        {
          cwd: repoRoot,
          env: {POC_HOME: home, E2E_ARTIFACTS: artifacts, NO_COLOR: '1', POC_RUNTIME: 'native'},
          reject: false,
          timeout: 600_000,
          all: true,
        },
      )
      const resultsFile = path.join(artifacts, 'results.json')
      assert.ok(existsSync(resultsFile), `Playwright wrote no results (exit ${run.exitCode}):\n${run.all}`)
      const report = JSON.parse(readFileSync(resultsFile, 'utf8')) as {suites: PlaywrightSuite[]}
      const specs = report.suites.flatMap((suite) => specsOf(suite))
      assert.ok(specs.length >= 5, `only ${specs.length} spec(s) ran:\n${run.all}`)
      for (const {name, spec} of specs) {
        await t.test(name, () => {
          const last = spec.tests.at(-1)?.results.at(-1)
          assert.equal(last?.status, 'passed', last?.error?.message ?? `no result for ${name}`)
        })
      }
      assert.equal(run.exitCode, 0, run.all)
      const screenshots = readdirSync(path.join(artifacts, 'screenshots'))
      for (const page of ['overview', 'projects', 'timesheets', 'compliance', 'telemetry']) {
        assert.ok(
          screenshots.includes(`${page}.png`),
          `no screenshot of ${page} in ${screenshots.join(', ')}`,
        )
      }
    })

    it('runs smoke scenario 14 (the UI flow, headless) and passes', async () => {
      const run = await runPoc(home, ['smoke', '--only', '14', '--json'])
      const report = parseJson<{
        status: string
        scenarios: Array<{id: string; status: string; reason?: string}>
      }>(run)
      const scenario = report.scenarios.find((s) => s.id === 'minio-ui')
      assert.equal(scenario?.status, 'passed', scenario?.reason ?? run.stderr)
      assert.equal(run.exitCode, 0)
    })

    it('skips scenario 14 with the reason when there is no Chromium', async () => {
      const run = await runPoc(home, ['smoke', '--only', '14', '--json'], {
        POC_CHROMIUM: '/nonexistent/chromium',
      })
      const report = parseJson<{scenarios: Array<{id: string; status: string; reason?: string}>}>(run)
      const scenario = report.scenarios.find((s) => s.id === 'minio-ui')
      assert.equal(scenario?.status, 'skipped')
      assert.match(scenario?.reason ?? '', /POC_CHROMIUM=\/nonexistent\/chromium is not an executable/)
      assert.equal(run.exitCode, 0)
    })
  },
)
