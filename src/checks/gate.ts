import {readFileSync} from 'node:fs'
import {appendFile, readFile} from 'node:fs/promises'
import path from 'node:path'
import {Ajv, type ErrorObject, type ValidateFunction} from 'ajv'
import formats from 'ajv-formats'
import {writeFileAtomic} from '../lib/atomic-file.js'
import {packageRoot} from '../lib/package-root.js'
import {ExitCode, PocError, errorMessage} from '../stack/errors.js'
import {
  type BaselineComparison,
  type BenchResult,
  type SloCheck,
  type SloCompliance,
  maxScheduleMissPercent,
} from './bench/result.js'

export const gateProfiles = ['strict', 'light'] as const
export type GateProfile = (typeof gateProfiles)[number]

export interface Thresholds {
  p99Us: number
  p999Us: number
  tailRatioMax: number
  /** Absent: no drop is allowed (operator ==); given: at most this many (operator <=). */
  dropCountMax?: number
  errorRatePercentMax: number
  throughputMin: number
}

/** SPEC §6.5: strict is the gateway's SLO; light is what a shared CI runner can be held to. */
export const profileThresholds: Record<GateProfile, Thresholds> = {
  strict: {p99Us: 100, p999Us: 3000, tailRatioMax: 12, errorRatePercentMax: 0.01, throughputMin: 10_000},
  light: {p99Us: 300, p999Us: 10_000, tailRatioMax: 20, errorRatePercentMax: 0.01, throughputMin: 500},
}

export const defaultMaxRegressionPercent = 20

export interface GateOptions {
  profile: GateProfile
  overrides?: Partial<Thresholds>
  baseline?: {file: string; result: BenchResult}
  maxRegressionPercent?: number
}

export interface SchemaError {
  /** JSON pointer into the file ('' for the document itself), as ajv reports it. */
  instancePath: string
  message: string
}

export type BenchValidation = {ok: true; result: BenchResult} | {ok: false; errors: SchemaError[]}

const benchSchemaPath = 'fixtures/schemas/bench.v1.schema.json'
export const benchSchemaFile = path.join(packageRoot, benchSchemaPath)

let compiled: ValidateFunction | undefined

function benchValidator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv({allErrors: true})
    formats.default(ajv)
    compiled = ajv.compile(JSON.parse(readFileSync(benchSchemaFile, 'utf8')) as object)
  }
  return compiled
}

export function validateBench(value: unknown): BenchValidation {
  const validate = benchValidator()
  if (validate(value)) return {ok: true, result: value as BenchResult}
  return {ok: false, errors: (validate.errors ?? []).map(schemaError)}
}

function schemaError(error: ErrorObject): SchemaError {
  const allowed = (error.params as {allowedValue?: unknown}).allowedValue
  const message = error.message ?? error.keyword
  return {
    instancePath: error.instancePath,
    message: allowed === undefined ? message : `${message} ${JSON.stringify(allowed)}`,
  }
}

export function formatSchemaError(error: SchemaError): string {
  return `${error.instancePath || '(the document)'} ${error.message}`
}

interface Rule {
  name: string
  metric: string
  label: string
  unit: string
  operator: SloCheck['operator']
  threshold: number
  severity: SloCheck['severity']
}

const fastPathP99 = 'metrics.fast_path.process_latency_us.p99'

function rules(t: Thresholds): Rule[] {
  const dropOperator = t.dropCountMax === undefined ? '==' : '<='
  return [
    {
      name: 'fast_path_p99',
      metric: fastPathP99,
      label: 'fast-path p99',
      unit: ' µs',
      operator: '<=',
      threshold: t.p99Us,
      severity: 'error',
    },
    {
      name: 'fast_path_p999',
      metric: 'metrics.fast_path.process_latency_us.p999',
      label: 'fast-path p99.9',
      unit: ' µs',
      operator: '<=',
      threshold: t.p999Us,
      severity: 'error',
    },
    {
      name: 'tail_ratio',
      metric: 'metrics.summary.tail_ratio',
      label: 'tail ratio p99/p50',
      unit: '',
      operator: '<=',
      threshold: t.tailRatioMax,
      severity: 'warning',
    },
    {
      name: 'drop_count',
      metric: 'metrics.fast_path.drop_count',
      label: 'fast-path drop count',
      unit: '',
      operator: dropOperator,
      threshold: t.dropCountMax ?? 0,
      severity: 'error',
    },
    {
      name: 'error_rate',
      metric: 'metrics.summary.error_rate_percent',
      label: 'error rate',
      unit: ' %',
      operator: '<=',
      threshold: t.errorRatePercentMax,
      severity: 'error',
    },
    {
      name: 'throughput',
      metric: 'metrics.summary.throughput_events_per_sec',
      label: 'throughput',
      unit: ' events/s',
      operator: '>=',
      threshold: t.throughputMin,
      severity: 'error',
    },
  ]
}

/** The number at a dotted path, or undefined when any step is missing or it is not a number. */
export function metricAt(result: unknown, metric: string): number | undefined {
  let value: unknown = result
  for (const key of metric.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

function holds(actual: number, operator: SloCheck['operator'], threshold: number): boolean {
  if (operator === '<=') return actual <= threshold
  if (operator === '>=') return actual >= threshold
  return actual === threshold
}

/** How the actual value stands against its threshold, e.g. "above the limit of 100 µs". */
function standing(
  operator: SloCheck['operator'],
  passed: boolean,
  severity: SloCheck['severity'],
  limit: string,
) {
  const warning = severity === 'warning' ? 'warning ' : ''
  if (operator === '<=') return passed ? `at most ${limit}` : `above the ${warning}limit of ${limit}`
  if (operator === '>=') return passed ? `at least ${limit}` : `below the ${warning}minimum of ${limit}`
  return passed ? 'as required' : `where ${limit} is required`
}

function missingHint(metric: string): string {
  if (metric.startsWith('metrics.fast_path.'))
    return 'only a bench against the gateway has fast-path figures; another target has none to judge'
  if (metric === 'metrics.summary.tail_ratio') return 'it needs a fast-path p50 above 0 to divide by'
  return 'the bench that wrote it did not record it'
}

function check(rule: Rule, result: BenchResult): SloCheck {
  const {name, metric, operator, threshold, severity} = rule
  const actual = metricAt(result, metric) ?? null
  const base = {name, metric, operator, threshold, actual}
  if (actual === null) {
    // A metric that is not there cannot have met its threshold; as a warning it would let a
    // result without fast-path figures through, so it is an error whatever the rule's severity.
    return {
      ...base,
      passed: false,
      severity: 'error',
      message: `${metric} is missing from the result: ${missingHint(metric)}`,
    }
  }
  const passed = holds(actual, operator, threshold)
  return {
    ...base,
    passed,
    severity,
    message: `${rule.label} is ${formatNumber(actual)}${rule.unit}, ${standing(operator, passed, severity, `${formatNumber(threshold)}${rule.unit}`)}`,
  }
}

function regressionCheck(
  result: BenchResult,
  baseline: {file: string; result: BenchResult},
  maxRegressionPercent: number,
): {check: SloCheck; comparison: BaselineComparison | null} {
  const baselineP99 = metricAt(baseline.result, fastPathP99)
  if (baselineP99 === undefined || baselineP99 <= 0) {
    throw new PocError(
      `the baseline ${baseline.file} has no fast-path p99 above 0 to compare against (${fastPathP99})`,
      {
        exitCode: ExitCode.unavailable,
        code: 'baseline_unusable',
        suggestions: ['Bless a bench run against the gateway as the baseline (poc bench --bless).'],
      },
    )
  }
  const regressionCheckOf = (actual: number | null, passed: boolean, message: string): SloCheck => ({
    name: 'p99_regression',
    metric: fastPathP99,
    operator: '<=',
    threshold: maxRegressionPercent,
    actual,
    passed,
    severity: 'error',
    message,
  })
  const actualP99 = metricAt(result, fastPathP99)
  if (actualP99 === undefined) {
    return {
      check: regressionCheckOf(
        null,
        false,
        `${fastPathP99} is missing from the result, so it cannot be compared with the baseline ${baseline.file}: ${missingHint(fastPathP99)}`,
      ),
      comparison: null,
    }
  }
  // Rounded before it is judged, so the verdict agrees with the figure everyone reads.
  const regression = Math.round(((actualP99 - baselineP99) / baselineP99) * 100 * 100) / 100
  const passed = regression <= maxRegressionPercent
  const runnerLabel = baseline.result.environment.runner_label
  const otherRunner =
    runnerLabel === result.environment.runner_label
      ? ''
      : ` (the baseline is from runner ${runnerLabel}, this result from ${result.environment.runner_label})`
  const change = `${regression >= 0 ? '+' : ''}${formatNumber(regression)} %`
  return {
    check: regressionCheckOf(
      regression,
      passed,
      `fast-path p99 ${formatNumber(actualP99)} µs against ${formatNumber(baselineP99)} µs in the baseline: ${change}, ${standing('<=', passed, 'error', `${formatNumber(maxRegressionPercent)} %`)}${otherRunner}`,
    ),
    comparison: {
      file: baseline.file,
      runner_label: runnerLabel,
      baseline_p99_us: baselineP99,
      actual_p99_us: actualP99,
      regression_percent: regression,
      max_regression_percent: maxRegressionPercent,
      passed,
    },
  }
}

export function complianceStatus(checks: SloCheck[]): SloCompliance['status'] {
  const failed = checks.filter((c) => !c.passed)
  if (failed.some((c) => c.severity === 'error')) return 'FAIL'
  return failed.length > 0 ? 'WARN' : 'PASS'
}

/**
 * An interrupted run, or one whose generator missed its schedule, measured something other than
 * the server under the planned load: it fails as such, whatever its figures say.
 */
export function measurementCheck(result: BenchResult): SloCheck | undefined {
  const m = result.measurement
  if (m === undefined) return undefined
  return {
    name: 'valid_measurement',
    metric: 'measurement.schedule_miss_percent',
    operator: '<=',
    threshold: maxScheduleMissPercent,
    actual: m.schedule_miss_percent,
    passed: m.valid,
    severity: 'error',
    message: m.valid
      ? `ran ${formatNumber(m.elapsed_sec)} s as planned, ${formatNumber(m.schedule_miss_percent)} % of requests late or unsent`
      : `invalid measurement, not judged as an SLO miss: ${m.invalid_reasons.join('; ')}`,
  }
}

/** Judge a (schema-valid) bench result against the profile's SLO (SPEC §6.5). */
export function gate(result: BenchResult, options: GateOptions): SloCompliance {
  const thresholds: Thresholds = {...profileThresholds[options.profile], ...definedOnly(options.overrides)}
  const validity = measurementCheck(result)
  const checks = [...(validity ? [validity] : []), ...rules(thresholds).map((rule) => check(rule, result))]
  let comparison: BaselineComparison | null = null
  if (options.baseline) {
    const regression = regressionCheck(
      result,
      options.baseline,
      options.maxRegressionPercent ?? defaultMaxRegressionPercent,
    )
    checks.push(regression.check)
    comparison = regression.comparison
  }
  return {status: complianceStatus(checks), profile: options.profile, checks, baseline_comparison: comparison}
}

function definedOnly(overrides: Partial<Thresholds> = {}): Partial<Thresholds> {
  return Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined))
}

/** The verdict on a file that is not a bench.v1 result: it is broken, which fails the gate as such. */
export function schemaFailure(profile: GateProfile, errors: SchemaError[]): SloCompliance {
  return {
    status: 'FAIL',
    profile,
    checks: [
      {
        name: 'schema',
        metric: benchSchemaPath,
        operator: '==',
        threshold: 0,
        actual: errors.length,
        passed: false,
        severity: 'error',
        message: `the file is not a valid bench.v1 result (${errors.length} schema error${errors.length === 1 ? '' : 's'}), so no SLO was judged`,
      },
    ],
    baseline_comparison: null,
  }
}

export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value)
  return String(Number(Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3)))
}

/** What `poc gate` did: the verdict (SloCompliance) and where it went. */
export interface GateFileResult extends SloCompliance {
  file: string
  /** False when the file is not a bench.v1 result: a verdict is not written into a broken file. */
  written: boolean
  schema_errors: SchemaError[]
  github_summary: string | null
}

export interface GateFileOptions extends Omit<GateOptions, 'baseline'> {
  file: string
  baselineFile?: string
  githubSummary?: string
  now?: Date
}

/**
 * Read, validate and judge a bench result file, write `slo_compliance` back into it, and append
 * the Markdown summary. An unreadable input or an unusable baseline is exit 3 (PocError); a
 * schema-invalid input is a failed gate, not an error.
 */
export async function gateBenchFile(options: GateFileOptions): Promise<GateFileResult> {
  const file = path.resolve(options.file)
  const document = await readJson(file, 'bench result')
  const baseline = options.baselineFile === undefined ? undefined : await readBaseline(options.baselineFile)
  const validation = validateBench(document)
  const checkedAt = (options.now ?? new Date()).toISOString()
  const compliance: SloCompliance = validation.ok
    ? gate(validation.result, {...options, baseline})
    : schemaFailure(options.profile, validation.errors)
  const stamped = withCheckedAt(compliance, checkedAt)
  if (validation.ok) {
    const updated = {...validation.result, slo_compliance: stamped}
    await writeOrExplain(file, () => writeFileAtomic(file, `${JSON.stringify(updated, null, 2)}\n`))
  }
  const report: GateFileResult = {
    file,
    ...stamped,
    written: validation.ok,
    schema_errors: validation.ok ? [] : validation.errors,
    github_summary: options.githubSummary ? path.resolve(options.githubSummary) : null,
  }
  if (report.github_summary) {
    const summaryFile = report.github_summary
    await writeOrExplain(summaryFile, () => appendFile(summaryFile, markdownSummary(report)))
  }
  return report
}

function withCheckedAt(compliance: SloCompliance, checkedAt: string): SloCompliance {
  // checked_at beside status and profile, where a reader of the file looks first.
  const {status, profile, checks, baseline_comparison} = compliance
  return {status, profile, checked_at: checkedAt, checks, baseline_comparison}
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new PocError(`cannot read the ${what} ${file}: ${errorMessage(error)}`, {
      exitCode: ExitCode.unavailable,
      code: 'unreadable',
      cause: error,
      suggestions: ['Pass the JSON file that poc bench --out wrote.'],
    })
  }
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new PocError(`the ${what} ${file} is not JSON: ${errorMessage(error)}`, {
      exitCode: ExitCode.unavailable,
      code: 'not_json',
      cause: error,
      suggestions: ['Pass the JSON file that poc bench --out wrote.'],
    })
  }
}

async function readBaseline(baselineFile: string): Promise<{file: string; result: BenchResult}> {
  const file = path.resolve(baselineFile)
  const validation = validateBench(await readJson(file, 'baseline'))
  if (!validation.ok) {
    throw new PocError(
      `the baseline ${file} is not a valid bench.v1 result, so there is nothing to compare with`,
      {
        exitCode: ExitCode.unavailable,
        code: 'baseline_invalid',
        details: validation.errors.map(formatSchemaError),
        suggestions: ['Bless a fresh run as the baseline (poc bench --bless), or leave --baseline out.'],
      },
    )
  }
  const m = validation.result.measurement
  if (m && !m.valid) {
    throw new PocError(
      `the baseline ${file} is not a valid measurement, so there is nothing to compare with`,
      {
        exitCode: ExitCode.unavailable,
        code: 'baseline_invalid',
        details: m.invalid_reasons,
        suggestions: [
          'Bless a run that ran to its end on schedule (poc bench --bless), or leave --baseline out.',
        ],
      },
    )
  }
  return {file, result: validation.result}
}

async function writeOrExplain(file: string, write: () => Promise<void>): Promise<void> {
  try {
    await write()
  } catch (error) {
    throw new PocError(`cannot write ${file}: ${errorMessage(error)}`, {
      exitCode: ExitCode.unavailable,
      code: 'unwritable',
      cause: error,
    })
  }
}

const verdictIcon: Record<SloCompliance['status'], string> = {PASS: '✅', WARN: '⚠️', FAIL: '❌'}

/** The GitHub step summary: verdict heading, the checks, the baseline comparison. */
export function markdownSummary(report: GateFileResult): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|')
  const lines = [
    `## ${verdictIcon[report.status]} SLO gate ${report.status} (${report.profile})`,
    '',
    `\`${cell(path.basename(report.file))}\`, checked at ${report.checked_at ?? ''}`,
    '',
  ]
  if (report.schema_errors.length > 0) {
    lines.push(
      'The bench file is broken: it does not follow bench.v1, so no SLO was judged.',
      '',
      ...report.schema_errors.map((e) => `- \`${cell(e.instancePath || '/')}\` ${cell(e.message)}`),
      '',
    )
  } else {
    lines.push(
      '| check | metric | operator | threshold | actual | result |',
      '| --- | --- | --- | --- | --- | --- |',
      ...report.checks.map(
        (c) =>
          `| ${c.name} | \`${c.metric}\` | ${cell(c.operator)} | ${formatNumber(c.threshold)} | ${c.actual === null ? 'missing' : formatNumber(c.actual)} | ${checkResult(c)} |`,
      ),
      '',
    )
    const failed = report.checks.filter((c) => !c.passed)
    if (failed.length > 0) lines.push(...failed.map((c) => `- **${c.name}**: ${cell(c.message)}`), '')
  }
  const b = report.baseline_comparison
  if (b) {
    lines.push(
      `**Baseline** \`${cell(path.basename(b.file))}\` (runner ${cell(b.runner_label)}): fast-path p99 ${formatNumber(b.baseline_p99_us)} µs → ${formatNumber(b.actual_p99_us)} µs, ${b.regression_percent >= 0 ? '+' : ''}${formatNumber(b.regression_percent)} % (max ${formatNumber(b.max_regression_percent)} %): ${b.passed ? 'pass' : 'FAIL'}`,
      '',
    )
  }
  return `${lines.join('\n')}\n`
}

/** pass, FAIL, or WARN for a failed warning-severity check. */
export function checkResult(c: SloCheck): 'pass' | 'WARN' | 'FAIL' {
  if (c.passed) return 'pass'
  return c.severity === 'warning' ? 'WARN' : 'FAIL'
}
