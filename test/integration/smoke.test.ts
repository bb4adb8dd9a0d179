import assert from 'node:assert/strict'
import {chromiumMissingReason} from '../../src/checks/ui/browser.js'
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import {execa} from 'execa'
import type {LastSummary, SmokeSessionResult} from '../../src/checks/smoke/loop.js'
import type {SmokeReport} from '../../src/checks/smoke/types.js'
import {cleanup, makeHome, parseJson, repoRoot, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.smoke

function readSummary(file: string): LastSummary | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LastSummary
  } catch {
    return undefined
  }
}

/** `poc smoke …` in the background, as a CI job starts it. */
function smokeInBackground(home: string, args: string[]) {
  return execa('node', [path.join(repoRoot, 'bin', 'run.js'), 'smoke', ...args], {
    env: {POC_HOME: home, NO_COLOR: '1'},
    reject: false,
    timeout: 180_000,
  })
}

describe('poc smoke against a real stack', () => {
  let home: string

  before(async () => {
    home = makeHome('smoke')
    await upStack(home, offset)
  })

  after(async () => {
    await cleanup(home)
  })

  it('passes every scenario of a healthy stack (exit 0), the browser flow too where Chromium is, writes the report and JUnit', async () => {
    const reportFile = path.join(home, 'out', 'report.json')
    const junitFile = path.join(home, 'out', 'smoke.xml')
    const run = await runPoc(home, ['smoke', '--json', '--report', reportFile, '--junit', junitFile])
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    const result = parseJson<SmokeSessionResult>(run)
    assert.equal(result.status, 'passed')
    const byNumber = new Map(result.last.scenarios.map((s) => [s.number, s]))
    // Scenario 14 drives Chromium: without one it is skipped, and says why.
    const noBrowser = chromiumMissingReason()
    const last = noBrowser ? 13 : 14
    for (let n = 1; n <= last; n++) {
      assert.equal(byNumber.get(n)?.status, 'passed', `scenario ${n}: ${byNumber.get(n)?.reason}`)
      assert.ok((byNumber.get(n)?.evidence.length ?? 0) > 0, `scenario ${n} recorded evidence`)
    }
    if (noBrowser) {
      assert.equal(byNumber.get(14)?.status, 'skipped')
      assert.equal(byNumber.get(14)?.reason, noBrowser)
    }
    // Without Prometheus in this stack, scenario 13 is the offline manifest check alone.
    assert.match(byNumber.get(13)?.summary ?? '', /^5 dashboards consistent offline$/)
    assert.ok((byNumber.get(3)?.metrics?.e2eLatencyMs ?? -1) >= 0, 'the E2E latency is reported')
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as SmokeReport
    assert.equal(report.runId, result.last.runId)
    const junit = readFileSync(junitFile, 'utf8')
    assert.match(
      junit,
      new RegExp(
        `<testsuites name="poc smoke" tests="14" failures="0" errors="0" skipped="${noBrowser ? 1 : 0}"`,
      ),
    )
    // Nothing failed: no artifacts directory besides the summary.
    const artifacts = path.join(home, 'logs', 'poc-smoke')
    assert.deepEqual(readdirSync(artifacts), ['last_summary.json'])
  })

  it('--loop --count 3 --interval 1s runs three times and rewrites last_summary.json after each run', async () => {
    const artifacts = path.join(home, 'loop-artifacts')
    const summaryFile = path.join(artifacts, 'last_summary.json')
    const smoke = smokeInBackground(home, [
      '--loop',
      '--count',
      '3',
      '--interval',
      '1s',
      '--only',
      'infra,services,metrics',
      '--artifacts',
      artifacts,
    ])
    const seen: number[] = []
    let exited = false
    void smoke.finally(() => (exited = true))
    const look = () => {
      const runs = readSummary(summaryFile)?.runs
      if (runs !== undefined && runs !== seen.at(-1)) seen.push(runs)
    }
    while (!exited) {
      look()
      await delay(25)
    }
    look()
    const finished = await smoke
    assert.equal(finished.exitCode, 0, finished.stdout + finished.stderr)
    assert.deepEqual(seen, [1, 2, 3], 'last_summary.json was rewritten after each of the three runs')
    const summary = readSummary(summaryFile) as LastSummary
    assert.equal(summary.status, 'success')
    assert.equal(summary.passed_runs, 3)
    assert.equal(summary.failure_reason, '')
    assert.equal(summary.next_run_at, null)
    assert.match(finished.stdout, /run 3 passed/)
    assert.match(finished.stdout, /Smoke passed in all 3 runs\./)
  })

  it('a loop tells the webhook once when the stack fails and once when it recovers, and leaves the artifacts of the failed run', async () => {
    const messages: Array<{text: string}> = []
    const receiver = createServer((request, response) => {
      let body = ''
      request.on('data', (chunk) => (body += chunk))
      request.on('end', () => {
        messages.push(JSON.parse(body) as {text: string})
        response.end('ok')
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const webhook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
    const artifacts = path.join(home, 'webhook-artifacts')
    const summaryFile = path.join(artifacts, 'last_summary.json')
    try {
      assert.equal((await runPoc(home, ['down', '--only', 'fi'])).exitCode, 0)
      const smoke = smokeInBackground(home, [
        ...['--loop', '--count', '3', '--interval', '5s', '--only', 'services'],
        ...['--artifacts', artifacts, '--slack-webhook', webhook, '--json'],
      ])
      const deadline = Date.now() + 30_000
      while (readSummary(summaryFile)?.runs !== 1) {
        assert.ok(Date.now() < deadline, 'the first run finished')
        await delay(50)
      }
      assert.equal(readSummary(summaryFile)?.status, 'failure')
      assert.match(readSummary(summaryFile)?.failure_reason ?? '', /fi is not running/)
      assert.equal((await runPoc(home, ['up', '--only', 'fi'])).exitCode, 0)
      const finished = await smoke
      assert.equal(finished.exitCode, 1, 'a loop with a failed run exits 1')
      const result = JSON.parse(finished.stdout) as SmokeSessionResult
      assert.deepEqual(
        result.runs.map((r) => r.status),
        ['failed', 'passed', 'passed'],
      )
      assert.equal(messages.length, 2, JSON.stringify(messages))
      assert.match(messages[0]?.text ?? '', /poc smoke FAILED .*fi is not running/)
      assert.match(messages[1]?.text ?? '', /poc smoke RECOVERED .*after 1 failed run/)
      const failedRun = result.runs[0]?.artifacts as string
      for (const file of [
        'report.json',
        'junit.xml',
        'queues.json',
        'responses.json',
        'logs/fi.log',
        'logs/pm.log',
      ]) {
        assert.ok(existsSync(path.join(failedRun, file)), `artifacts hold ${file}`)
      }
      const queues = JSON.parse(readFileSync(path.join(failedRun, 'queues.json'), 'utf8')) as {
        queues: Array<{name: string}>
      }
      assert.ok(
        queues.queues.some((q) => q.name === 'fi.inbox'),
        'queue depths from the management API',
      )
      const summary = readSummary(summaryFile) as LastSummary
      assert.deepEqual(
        summary.notifications.map((n) => [n.kind, n.run, n.delivered]),
        [
          ['failure', 1, true],
          ['recovery', 2, true],
        ],
      )
    } finally {
      receiver.close()
      await runPoc(home, ['up', '--only', 'fi'])
    }
  })

  it('without a stack: exit 3 with the next step', async () => {
    const empty = makeHome('smoke-empty')
    try {
      const run = await runPoc(empty, ['smoke'])
      assert.equal(run.exitCode, 3, run.stdout + run.stderr)
      assert.match(run.stderr, /no stack is running at .*poc-test-smoke-empty/)
      assert.match(run.stderr, /poc up/)
    } finally {
      await cleanup(empty)
    }
  })

  it('an unknown scenario is a usage error (exit 2) that lists the scenarios', async () => {
    const run = await runPoc(home, ['smoke', '--only', 'nope'])
    assert.equal(run.exitCode, 2)
    assert.match(run.stderr, /no smoke scenario "nope"/)
    assert.match(run.stderr, /1 infra, 2 services, 3 timesheet-to-invoice/)
    const json = await runPoc(home, ['smoke', '--timeout', 'soon', '--json'])
    assert.equal(json.exitCode, 2, 'a bad flag value is a usage error with --json too')
    const {error} = parseJson<{error: {message: string; exitCode: number}}>(json)
    assert.match(error.message, /expected a duration such as 90s, 2m or 1500ms, got "soon"/)
    assert.equal(error.exitCode, 2)
  })
})
