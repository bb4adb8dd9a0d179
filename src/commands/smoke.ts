import path from 'node:path'
import {Flags} from '@oclif/core'
import {PocCommand} from '../cli/base-command.js'
import {durationFlag, splitList} from '../cli/flags.js'
import {smokeView} from '../cli/smoke-view.js'
import {type SmokeSessionResult, smokeSession} from '../checks/smoke/loop.js'
import {selectScenarios} from '../checks/smoke/run.js'
import {scenarios} from '../checks/smoke/scenarios.js'
import {formatDuration} from '../stack/clock.js'
import {ExitCode} from '../stack/errors.js'

export default class Smoke extends PocCommand {
  static description = `Runs the smoke scenarios against the stack in $POC_HOME (no ports to pass: they come from its state file) and tells whether it works, and when not, why:

${scenarios.map((s) => `  ${String(s.number).padStart(2)} ${s.id.padEnd(21)}${s.title}`).join('\n')}

Each scenario has its own timeout and records its requests, answers and timings; asynchronous outcomes are polled with backoff, never waited for with fixed sleeps. Scenarios whose part of the stack has not been built are reported as skipped, with the reason.

A failed run writes its report, JUnit XML, the last 200 lines of every component's log, the queue depths and the last HTTP exchanges into a directory of its own under --artifacts. Every run writes last_summary.json in --artifacts, with the seed's fields first (status success or failure, failure_reason, runs, attempt, fallback_used, telemetry, telemetry_health from pm's /health/telemetry) and poc's after them. With --loop it runs every --interval (start to start) until --count runs or Ctrl+C, rewriting last_summary.json after each run, and tells --slack-webhook once when the stack starts failing and once when it recovers.

Creates its own data (project SMOKE-<run>, timesheets TS-SMOKE-<run>-…, orders SO-SMOKE-<run>-…, contract CT-SMOKE-<run>) and restarts pm once (scenario 11); poc reset clears it.

EXIT CODES
  0  every scenario that ran passed (in every run of a loop)
  1  a scenario failed
  2  usage error
  3  no stack is running in $POC_HOME
  130  interrupted (Ctrl+C)`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Check the whole stack once.'},
    {
      command: '<%= config.bin %> <%= command.id %> --only services,timesheet-to-invoice',
      description: 'Only scenarios 2 and 3 (ids or numbers).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --loop --count 3 --interval 1m --junit smoke.xml',
      description: 'What CI runs: three runs a minute apart, JUnit XML for the test report.',
    },
    {
      command: 'SLACK_WEBHOOK_URL=https://hooks.slack.com/… <%= config.bin %> <%= command.id %> --loop',
      description: 'Every 10 minutes until Ctrl+C, telling Slack when it breaks and when it recovers.',
    },
  ]

  static flags = {
    artifacts: Flags.string({
      description:
        'Directory for last_summary.json and the artifacts of failed runs [default: $POC_HOME/logs/poc-smoke].',
    }),
    count: Flags.integer({description: 'Stop after this many runs (implies --loop).', min: 1}),
    interval: durationFlag({
      default: 600_000,
      defaultHelp: async () => '10m',
      description: 'Time between the starts of two runs of a loop (10m, 1m, 30s).',
    }),
    junit: Flags.string({description: 'Write JUnit XML here (a loop keeps one testsuite per run).'}),
    loop: Flags.boolean({description: 'Run again every --interval until --count runs or Ctrl+C.'}),
    only: Flags.string({
      description: 'Only these scenarios (ids or numbers, comma-separated).',
      multiple: true,
    }),
    report: Flags.string({description: 'Write the JSON report of the (last) run here.'}),
    skip: Flags.string({
      description: 'Leave these scenarios out (ids or numbers, comma-separated).',
      multiple: true,
    }),
    'slack-webhook': Flags.string({
      description: 'Incoming-webhook URL told once on failure and once on recovery.',
      env: 'SLACK_WEBHOOK_URL',
    }),
    timeout: durationFlag({description: 'Time each scenario may take, instead of its own (15s to 60s).'}),
  }

  static summary = 'Prove the stack works: the end-to-end smoke scenarios, once or in a loop.'

  async run(): Promise<SmokeSessionResult> {
    const {flags} = await this.parse(Smoke)
    const only = splitList(flags.only)
    const skip = splitList(flags.skip)
    const selected = selectScenarios(only, skip)
    const loop = flags.loop || flags.count !== undefined
    const artifactsDir = path.resolve(flags.artifacts ?? path.join(this.home.logsDir, 'poc-smoke'))
    const view = smokeView({json: this.jsonEnabled(), scenarios: selected, log: (line) => this.log(line)})
    const interruption = this.interruption()
    let result: SmokeSessionResult
    try {
      result = await smokeSession(
        {
          only,
          skip,
          timeoutMs: flags.timeout,
          loop,
          count: flags.count,
          intervalMs: flags.interval,
          artifactsDir,
          junitFile: flags.junit,
          reportFile: flags.report,
          webhookUrl: flags['slack-webhook'],
        },
        {
          home: this.home,
          signal: interruption.signal,
          progress: (event) => view.progress(event),
          onWarning: (message) => this.warn(message),
          onRun: async (record, nextRunAt) => {
            await view.endRun()
            const verdict = record.status === 'passed' ? 'passed' : `FAILED: ${record.failureReason}`
            const counts = `${record.counts.passed} passed, ${record.counts.failed} failed, ${record.counts.skipped} skipped`
            this.say(`run ${record.run} ${verdict} (${counts}, ${formatDuration(record.durationMs)})`)
            if (record.artifacts) this.say(`  artifacts: ${record.artifacts}`)
            if (nextRunAt) this.say(`  next run at ${nextRunAt.toISOString()} (Ctrl+C stops)`)
            this.say()
          },
        },
      )
    } finally {
      interruption.dispose()
    }

    this.say(`last_summary.json: ${result.summaryFile}`)
    if (flags.junit) this.say(`JUnit XML: ${path.resolve(flags.junit)}`)
    if (flags.report) this.say(`report: ${path.resolve(flags.report)}`)
    const failedRuns = result.runs.filter((r) => r.status === 'failed').length
    if (result.interrupted) {
      process.exitCode = ExitCode.interrupted
      this.say('Interrupted.')
    } else if (result.status === 'failed') {
      process.exitCode = ExitCode.checkFailed
      this.say(
        `Smoke FAILED${loop ? ` in ${failedRuns} of ${result.runs.length} runs` : ''}: ${result.failureReason}`,
      )
    } else {
      this.say(`Smoke passed${loop ? ` in all ${result.runs.length} runs` : ''}.`)
    }
    return result
  }
}
