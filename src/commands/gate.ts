import {Flags} from '@oclif/core'
import chalk from 'chalk'
import {PocCommand} from '../cli/base-command.js'
import {nonNegativeNumberFlag} from '../cli/flags.js'
import {renderTable} from '../cli/table.js'
import {type SloCheck, type SloCompliance, maxScheduleMissPercent} from '../contract/bench.js'
import {shapeTitles} from '../checks/bench/schemas.js'
import {
  type GateFileResult,
  actualText,
  checkResult,
  formatNumber,
  formatSchemaError,
  gateBenchFile,
  gateProfiles,
  p99Label,
  profileThresholds,
  seedBenchRequirements,
  shapeRules,
  verdictScope,
} from '../checks/gate.js'
import {ExitCode} from '../stack/errors.js'

const resultColour: Record<ReturnType<typeof checkResult>, (text: string) => string> = {
  pass: chalk.green,
  WARN: chalk.yellow,
  FAIL: chalk.red,
  note: chalk.dim,
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
    ['valid_measurement', miss, miss, 'critical', 'late or unsent requests'],
    ['fast_path_p99', `<= ${strict.p99Us} µs`, `<= ${light.p99Us} µs`, 'critical', 'fast-path p99'],
    ['fast_path_p999', `<= ${strict.p999Us} µs`, `<= ${light.p999Us} µs`, 'critical', 'fast-path p99.9'],
    ['tail_ratio', `<= ${strict.tailRatioMax}`, `<= ${light.tailRatioMax}`, 'warning', 'p99/p50'],
    ['drop_count', '== 0', '== 0', 'critical', 'fast-path drops'],
    [
      'error_rate',
      `<= ${strict.errorRatePercentMax} %`,
      `<= ${light.errorRatePercentMax} %`,
      'critical',
      'failed requests',
    ],
    ['throughput', `>= ${strict.throughputMin}`, `>= ${light.throughputMin}`, 'critical', 'events/s'],
  ]
  return indent(renderTable(['check', 'strict', 'light', 'severity', 'of'], rows))
}

function seedBenchHelp(): string {
  const {latencyP99Us, gcPauseP99Ms} = seedBenchRequirements
  return indent(
    renderTable(
      ['check', 'threshold', 'of'],
      [
        ['latency_p99', `<= ${latencyP99Us} µs`, 'metrics.latency_us.p99, REQ-PERF-001'],
        ['gc_pause_p99', `<= ${gcPauseP99Ms} ms`, 'metrics.gc_pause_ms.p99, REQ-PERF-002'],
      ],
    ),
  )
}

const indent = (lines: string[]) => lines.map((line) => `  ${line}`).join('\n')

export default class Gate extends PocCommand {
  static description = `Judges a bench result against an SLO: a poc bench result (what poc bench --out writes), or one of the seed's (event-switchyard) result files, by the seed's own rules.

A poc result, or the seed's contracts/bench.v1.schema.json result (version "v1", as its bench/old/run_canary.sh writes it; judged as its scripts/old/slo_gate.py judges), is held to the thresholds of a profile:

${thresholdsHelp()}

With strict, a poc result's profile slo_targets (fixtures/bench/profiles, or the seed's bench/profiles files; the skew profile allows p99 150 µs and a tail ratio of 15) replace the thresholds they name; the threshold flags replace any. The seed's slo_gate.py does not read slo_targets, so a seed result is not held to them.

The seed's contracts/bench/v1/schema.json result (schema "bench.v1", as its tools/old/bench.sh writes it) is judged as its tools/old/gate.py judges, against its docs/specs/perf.md (only --p99-us applies; the latency of a blackbox_* case, a smoke test to the seed, is a note):

${seedBenchHelp()}

A failed critical check gives FAIL (exit 1), a failed warning WARN (exit 0), a failed info check is a note. A metric a check needs that the result lacks fails that check as critical, on purpose (the seed's gates skip such a check, or count the metric as 0): the check's message says so. valid_measurement (from the result's measurement, which older results and the seed's lack) fails a run that was interrupted or whose generator missed its schedule.

--baseline takes a poc result (poc bench --bless), a seed result of either schema (its baseline/seed.json) or the seed's perf-gate baseline (baseline/perf_gate_rust*.json: its bench.p99_us is an HTTP round trip, compared with the result's metrics.http.raw_latency_us.p99). p99_regression fails when the p99 is more than --max-regression percent above the baseline's: 20 by default, 5 for a contracts/bench/v1 result, which is compared only with a baseline of the same case and env, as the seed's gate does (otherwise the check is a note).

The file is first validated: against poc's schema, then the seed's two (fixtures/schemas/bench.v1.schema.json, fixtures/schemas/seed/), or against --schema FILE alone. A file that follows none fails the gate as broken (check "schema", its errors listed) and is left untouched. Otherwise the verdict is written back into the file as slo_compliance (everything else kept; severities critical, warning, info, as the seed writes them), a table is printed (--verbose adds every check's severity and message), and a Markdown summary is appended to --github-summary, which defaults to $GITHUB_STEP_SUMMARY in GitHub Actions.

The seed's slo_gate.py flags work too: --throughput-min-events-per-sec is --throughput-min, --no-fail reports a FAIL but exits 0, --schema and --verbose as above.

EXIT CODES
  0  PASS or WARN (or FAIL with --no-fail)
  1  FAIL: an SLO was missed, or the bench file follows no bench schema
  2  usage error
  3  the bench file, the baseline or the --schema file is unreadable, or the baseline is unusable`

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
      command:
        '<%= config.bin %> <%= command.id %> --in var/results/canary.json --schema contracts/bench.v1.schema.json --profile light --throughput-min-events-per-sec 100 --no-fail --verbose',
      description: "A seed result, with the seed's slo_gate.py flags.",
    },
    {
      command: '<%= config.bin %> <%= command.id %> --in var/results/pr.json --baseline baseline/seed.json',
      description: "A seed contracts/bench/v1 result against the seed's baseline, as its tools/old/gate.py.",
    },
    {
      command: '<%= config.bin %> <%= command.id %> --in bench-result.json --json | jq .status',
      description: 'Just the verdict: PASS, WARN or FAIL.',
    },
  ]

  static flags = {
    baseline: Flags.string({
      description:
        "A result or baseline to compare the p99 with: poc's (the runner's blessed one), or the seed's baseline/*.json.",
    }),
    'drop-count-max': Flags.integer({
      description: 'Allow this many fast-path drops instead of none.',
      min: 0,
    }),
    'error-rate-percent-max': nonNegativeNumberFlag({description: 'Highest error rate in percent.'}),
    fail: Flags.boolean({
      allowNo: true,
      default: true,
      description: "Exit 1 on FAIL; --no-fail reports it and exits 0 (the seed gate's --no-fail).",
    }),
    'github-summary': Flags.string({
      description: 'Append the Markdown summary to this file.',
      env: 'GITHUB_STEP_SUMMARY',
    }),
    in: Flags.string({
      description: 'The bench result to judge; slo_compliance is written into it.',
      required: true,
    }),
    'max-regression': nonNegativeNumberFlag({
      description:
        'With --baseline: how many percent above the baseline the p99 may be [default: 20; 5 for a seed contracts/bench/v1 result].',
    }),
    'p99-us': nonNegativeNumberFlag({
      description: 'Highest fast-path p99 in µs (latency_us.p99 of a seed contracts/bench/v1 result).',
    }),
    'p999-us': nonNegativeNumberFlag({description: 'Highest fast-path p99.9 in µs.'}),
    profile: Flags.string({
      default: 'strict',
      description: "The thresholds: strict (the gateway's SLO) or light (a shared CI runner).",
      options: [...gateProfiles],
    }),
    schema: Flags.string({
      description: 'Validate the file against this JSON Schema alone, as the seed gate does with --schema.',
    }),
    'tail-ratio-max': nonNegativeNumberFlag({description: 'Highest p99/p50 ratio before a warning.'}),
    'throughput-min': nonNegativeNumberFlag({
      aliases: ['throughput-min-events-per-sec'],
      description: 'Lowest throughput in events per second (alias: --throughput-min-events-per-sec).',
    }),
    verbose: Flags.boolean({description: "Print every check's severity and message, passed ones too."}),
  }

  static summary =
    "SLO gate over a bench result (ours or the seed's): PASS, WARN or FAIL, written into the result."

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
      schemaFile: flags.schema,
      maxRegressionPercent: flags['max-regression'],
      githubSummary: flags['github-summary'] || undefined,
    })
    for (const line of this.view(report, flags.verbose)) this.say(line)
    if (report.status === 'FAIL') {
      if (flags.fail) process.exitCode = ExitCode.checkFailed
      else this.say('--no-fail: exit 0 although the gate failed')
    }
    return report
  }

  private view(report: GateFileResult, verbose: boolean): string[] {
    const verdict = verdictColour[report.status](`SLO gate ${report.status}`)
    if (report.schema_errors.length > 0) {
      return [
        `${report.file} does not follow ${report.schema} (${report.schema_errors.length} schema error(s)):`,
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
      c.missing ? chalk.red('missing') : actualText(c),
      ...(verbose ? [c.severity] : []),
      resultColour[checkResult(c)](checkResult(c)),
    ])
    const shown = verbose ? report.checks : report.checks.filter((c) => !c.passed)
    const b = report.baseline_comparison
    return [
      ...(report.shape === 'poc'
        ? []
        : [`Judged as ${shapeTitles[report.shape]}, by ${shapeRules[report.shape]}.`, '']),
      ...renderTable(
        ['CHECK', 'METRIC', 'OP', 'THRESHOLD', 'ACTUAL', ...(verbose ? ['SEVERITY'] : []), 'RESULT'],
        rows,
      ),
      ...(b
        ? [
            '',
            `baseline ${b.file} (${b.label}): ${p99Label(b.metric)} ${formatNumber(b.baseline_p99_us)} → ${formatNumber(b.current_p99_us)} µs, ${b.regression_percent >= 0 ? '+' : ''}${formatNumber(b.regression_percent)} % (max ${formatNumber(b.max_regression_percent)} %)${b.not_judged ? ', not judged' : ''}`,
          ]
        : []),
      '',
      ...shown.map((c: SloCheck) => `${c.name}: ${c.message}`),
      `${verdict} (${verdictScope(report)}): ${verdictReason(report)}`,
      `slo_compliance written to ${report.file}`,
      ...this.summaryLine(report),
    ]
  }

  private summaryLine(report: GateFileResult): string[] {
    return report.github_summary ? [`summary appended to ${report.github_summary}`] : []
  }
}

function verdictReason(report: GateFileResult): string {
  const counted = report.checks.filter((c) => !c.passed && c.severity !== 'info')
  const notes = report.checks.filter((c) => !c.passed && c.severity === 'info')
  const noteText = notes.length > 0 ? ` (not judged: ${notes.map((c) => c.name).join(', ')})` : ''
  if (counted.length === 0) {
    return notes.length === 0
      ? `all ${report.checks.length} checks passed.`
      : `the checks judged passed${noteText}.`
  }
  const names = counted.map((c) => c.name).join(', ')
  return report.status === 'WARN' ? `only warnings: ${names}.${noteText}` : `${names} failed.${noteText}`
}
