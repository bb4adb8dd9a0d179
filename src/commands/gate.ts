import {Flags} from '@oclif/core'
import chalk from 'chalk'
import {PocCommand} from '../cli/base-command.js'
import {nonNegativeNumberFlag} from '../cli/flags.js'
import {renderTable} from '../cli/table.js'
import {type SloCheck, type SloCompliance, maxScheduleMissPercent} from '../checks/bench/result.js'
import {
  type GateFileResult,
  checkResult,
  defaultMaxRegressionPercent,
  formatNumber,
  formatSchemaError,
  gateBenchFile,
  gateProfiles,
  profileThresholds,
} from '../checks/gate.js'
import {ExitCode} from '../stack/errors.js'

const resultColour: Record<ReturnType<typeof checkResult>, (text: string) => string> = {
  pass: chalk.green,
  WARN: chalk.yellow,
  FAIL: chalk.red,
}

const verdictColour: Record<SloCompliance['status'], (text: string) => string> = {
  PASS: chalk.green,
  WARN: chalk.yellow,
  FAIL: chalk.red,
}

/** The thresholds table of the help, from the same numbers the gate uses. */
function thresholdsHelp(): string {
  const {strict, light} = profileThresholds
  const miss = `<= ${maxScheduleMissPercent} %`
  const rows = [
    ['valid_measurement', miss, miss, 'late or unsent requests; an interrupted run fails'],
    ['fast_path_p99', `<= ${strict.p99Us} µs`, `<= ${light.p99Us} µs`, 'fast-path p99'],
    ['fast_path_p999', `<= ${strict.p999Us} µs`, `<= ${light.p999Us} µs`, 'fast-path p99.9'],
    ['tail_ratio', `<= ${strict.tailRatioMax}`, `<= ${light.tailRatioMax}`, 'p99/p50, a warning'],
    ['drop_count', '== 0', '== 0', 'fast-path drops'],
    [
      'error_rate',
      `<= ${strict.errorRatePercentMax} %`,
      `<= ${light.errorRatePercentMax} %`,
      'failed requests',
    ],
    ['throughput', `>= ${strict.throughputMin}`, `>= ${light.throughputMin}`, 'events/s'],
  ]
  return renderTable(['check', 'strict', 'light', 'of'], rows)
    .map((line) => `  ${line}`)
    .join('\n')
}

export default class Gate extends PocCommand {
  static description = `Judges a bench result (the JSON poc bench --out writes) against the SLO of a profile (the metrics are under metrics.fast_path and metrics.summary):

${thresholdsHelp()}

With --baseline, p99_regression also fails when the fast-path p99 is more than --max-regression percent above the baseline's. A metric a threshold needs that the result lacks (a bench against another target has no fast-path figures) fails that check; it never passes. A failed tail_ratio gives WARN, which still exits 0. valid_measurement (from the result's measurement, which older results lack) fails a run that was interrupted or whose generator missed its schedule: its figures are not judged as SLO misses, but the gate fails.

The file is first validated against fixtures/schemas/bench.v1.schema.json: a file that does not follow it fails the gate as broken (check "schema", its errors listed) and is left untouched. Otherwise the verdict is written back into the file as slo_compliance (everything else kept), a table is printed, and a Markdown summary is appended to --github-summary, which defaults to $GITHUB_STEP_SUMMARY in GitHub Actions.

EXIT CODES
  0  PASS or WARN
  1  FAIL: an SLO was missed, or the bench file does not follow the schema
  2  usage error
  3  the bench file or the baseline is unreadable, or the baseline is invalid`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> --in bench-result.json',
      description: 'Hold a result to the strict SLO.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --in bench-result.json --profile light --baseline baseline.json',
      description: 'What a shared CI runner can meet, and no more than 20 % slower at p99 than the baseline.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --in bench-result.json --profile light --p99-us 200 --tail-ratio-max 15',
      description: 'The light profile with two thresholds of your own.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --in bench-result.json --json | jq .status',
      description: 'Just the verdict: PASS, WARN or FAIL.',
    },
  ]

  static flags = {
    baseline: Flags.string({
      description: "A bench result to compare the fast-path p99 with (the runner's blessed baseline).",
    }),
    'drop-count-max': Flags.integer({
      description: 'Allow this many fast-path drops instead of none.',
      min: 0,
    }),
    'error-rate-percent-max': nonNegativeNumberFlag({description: 'Highest error rate in percent.'}),
    'github-summary': Flags.string({
      description: 'Append the Markdown summary to this file.',
      env: 'GITHUB_STEP_SUMMARY',
    }),
    in: Flags.string({
      description: 'The bench result to judge; slo_compliance is written into it.',
      required: true,
    }),
    'max-regression': nonNegativeNumberFlag({
      default: defaultMaxRegressionPercent,
      description: 'With --baseline: how many percent above the baseline the fast-path p99 may be.',
    }),
    'p99-us': nonNegativeNumberFlag({description: 'Highest fast-path p99 in µs.'}),
    'p999-us': nonNegativeNumberFlag({description: 'Highest fast-path p99.9 in µs.'}),
    profile: Flags.string({
      default: 'strict',
      description: "The thresholds: strict (the gateway's SLO) or light (a shared CI runner).",
      options: [...gateProfiles],
    }),
    'tail-ratio-max': nonNegativeNumberFlag({description: 'Highest p99/p50 ratio before a warning.'}),
    'throughput-min': nonNegativeNumberFlag({description: 'Lowest throughput in events per second.'}),
  }

  static summary = 'SLO gate over a bench result: PASS, WARN or FAIL, written into the result.'

  async run(): Promise<GateFileResult> {
    const {flags} = await this.parse(Gate)
    const report = await gateBenchFile({
      file: flags.in,
      profile: flags.profile as (typeof gateProfiles)[number],
      overrides: {
        p99Us: flags['p99-us'],
        p999Us: flags['p999-us'],
        tailRatioMax: flags['tail-ratio-max'],
        dropCountMax: flags['drop-count-max'],
        errorRatePercentMax: flags['error-rate-percent-max'],
        throughputMin: flags['throughput-min'],
      },
      baselineFile: flags.baseline,
      maxRegressionPercent: flags['max-regression'],
      githubSummary: flags['github-summary'] || undefined,
    })
    for (const line of this.view(report)) this.say(line)
    if (report.status === 'FAIL') process.exitCode = ExitCode.checkFailed
    return report
  }

  private view(report: GateFileResult): string[] {
    const verdict = verdictColour[report.status](`SLO gate ${report.status}`)
    if (report.schema_errors.length > 0) {
      return [
        `${report.file} does not follow bench.v1 (${report.schema_errors.length} schema error(s)):`,
        ...report.schema_errors.map((e) => `  ${formatSchemaError(e)}`),
        '',
        `${verdict}: the bench file is broken, so no SLO was judged; it was left as it was.`,
        ...this.summaryLine(report),
      ]
    }
    const rows = report.checks.map((c) => [
      c.name,
      c.metric,
      c.operator,
      formatNumber(c.threshold),
      c.actual === null ? chalk.red('missing') : formatNumber(c.actual),
      resultColour[checkResult(c)](checkResult(c)),
    ])
    const missed = report.checks.filter((c) => !c.passed)
    const b = report.baseline_comparison
    return [
      ...renderTable(['CHECK', 'METRIC', 'OP', 'THRESHOLD', 'ACTUAL', 'RESULT'], rows),
      ...(b
        ? [
            '',
            `baseline ${b.file} (runner ${b.runner_label}): fast-path p99 ${formatNumber(b.baseline_p99_us)} → ${formatNumber(b.actual_p99_us)} µs, ${b.regression_percent >= 0 ? '+' : ''}${formatNumber(b.regression_percent)} % (max ${formatNumber(b.max_regression_percent)} %)`,
          ]
        : []),
      '',
      ...missed.map((c: SloCheck) => `${c.name}: ${c.message}`),
      `${verdict} (${report.profile}): ${verdictReason(report, missed)}`,
      `slo_compliance written to ${report.file}`,
      ...this.summaryLine(report),
    ]
  }

  private summaryLine(report: GateFileResult): string[] {
    return report.github_summary ? [`summary appended to ${report.github_summary}`] : []
  }
}

function verdictReason(report: GateFileResult, missed: SloCheck[]): string {
  if (missed.length === 0) return `all ${report.checks.length} checks passed.`
  const names = missed.map((c) => c.name).join(', ')
  return report.status === 'WARN' ? `only warnings: ${names}.` : `${names} failed.`
}
