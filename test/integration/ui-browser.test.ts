import assert from 'node:assert/strict'
import {existsSync, mkdirSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {execa} from 'execa'
import {chromiumMissingReason} from '../../src/checks/ui/browser.js'
import {
  cleanup,
  makeHome,
  parseJson,
  type PocRun,
  repoRoot,
  runPoc,
  testPortOffsets,
  upStack,
} from '../helpers.js'

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

/** Scenario 14 of the last run of `poc smoke --json`. */
function scenario14(run: PocRun): {status: string; reason?: string} | undefined {
  const session = parseJson<{last: {scenarios: Array<{id: string; status: string; reason?: string}>}}>(run)
  return session.last.scenarios.find((s) => s.id === 'minio-ui')
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
      const scenario = scenario14(run)
      assert.equal(scenario?.status, 'passed', scenario?.reason ?? run.stderr)
      assert.equal(run.exitCode, 0)
    })

    it('fails scenario 14 with the step and screenshots in the artifacts when pm is down under the UI', async () => {
      const down = await runPoc(home, ['down', '--only', 'pm'])
      assert.equal(down.exitCode, 0, down.stderr)
      const dir = path.join(home, 'smoke-artifacts')
      try {
        const run = await runPoc(home, ['smoke', '--only', '14', '--json', '--artifacts', dir])
        assert.equal(run.exitCode, 1, run.stdout + run.stderr)
        const scenario = scenario14(run)
        assert.equal(scenario?.status, 'failed')
        // The badge never turns live: the first page is where it stopped, in one readable line.
        assert.match(
          scenario?.reason ?? '',
          /the overview page says "API offline.*not "API live".*\(on the first page\)$/,
        )
        assert.ok(
          !/Call log/.test(scenario?.reason ?? '') && !scenario?.reason?.includes('\u001B'),
          scenario?.reason,
        )
        const runs = readdirSync(dir).filter((entry) => entry !== 'last_summary.json')
        assert.equal(runs.length, 1, runs.join(', '))
        const shots = readdirSync(path.join(dir, runs[0] as string, 'screenshots'))
        assert.ok(
          shots.some((name) => /^14-ui-\d-overview\.png$/.test(name)),
          `screenshots: ${shots.join(', ')}`,
        )
      } finally {
        const up = await runPoc(home, ['up', '--only', 'pm'])
        assert.equal(up.exitCode, 0, up.stderr)
      }
    })

    it('skips scenario 14 with the reason when there is no Chromium', async () => {
      const run = await runPoc(home, ['smoke', '--only', '14', '--json'], {
        POC_CHROMIUM: '/nonexistent/chromium',
      })
      const scenario = scenario14(run)
      assert.equal(scenario?.status, 'skipped')
      assert.match(scenario?.reason ?? '', /POC_CHROMIUM=\/nonexistent\/chromium is not an executable/)
      assert.equal(run.exitCode, 0)
    })
  },
)
