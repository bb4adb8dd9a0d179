import {appendFile, readFile} from 'node:fs/promises'
import path from 'node:path'
import {writeFileAtomic} from '../lib/atomic-file.js'
import {ExitCode, PocError, errorMessage, usageError} from '../stack/errors.js'
import {type Baseline, baselineOf} from './bench/baseline.js'
import {shippedSloTargets} from './bench/profiles.js'
import {
  type BaselineComparison,
  type BenchResult,
  type GateProfile,
  type Severity,
  type SloCheck,
  type SloCompliance,
  type SloTargets,
  type StoredSloCheck,
  maxScheduleMissPercent,
} from '../contract/bench.js'
import {
  type BenchShape,
  type SchemaError,
  detectShape,
  detectWithSchema,
  shapeTitles,
  validatorOf,
} from './bench/schemas.js'

export {formatSchemaError, type SchemaError} from './bench/schemas.js'
export type {GateProfile} from '../contract/bench.js'

export const gateProfiles = ['strict', 'light'] as const

export interface Thresholds {
  p99Us: number
  p999Us: number
  tailRatioMax: number
  /** Absent: no drop is allowed (operator ==); given: at most this many (operator <=). */
  dropCountMax?: number
  errorRatePercentMax: number
  throughputMin: number
}

/**
 * SPEC §6.5: strict is the gateway's SLO; light is what a shared CI runner can be held to. The
 * same numbers as the seed's scripts/old/slo_gate.py (DEFAULT_THRESHOLDS and its light profile).
 */
export const profileThresholds: Record<GateProfile, Thresholds> = {
  strict: {p99Us: 100, p999Us: 3000, tailRatioMax: 12, errorRatePercentMax: 0.01, throughputMin: 10_000},
  light: {p99Us: 300, p999Us: 10_000, tailRatioMax: 20, errorRatePercentMax: 0.01, throughputMin: 500},
}

/**
 * The seed's docs/specs/perf.md, which its tools/old/gate.py reads for a contracts/bench/v1
 * result: REQ-PERF-001 latency p99 ≤ 1000 µs (production cases, not blackbox_* smoke) and
 * REQ-PERF-002 GC pause p99 ≤ 5 ms.
 */
export const seedBenchRequirements = {latencyP99Us: 1000, gcPauseP99Ms: 5} as const

export const defaultMaxRegressionPercent = 20
/** tools/old/gate.py: a contracts/bench/v1 result may be at most 5 % above its baseline. */
export const seedBenchMaxRegressionPercent = 5

/** Whose rules judged a result, for messages and help. */
export const shapeRules: Record<BenchShape, string> = {
  poc: "poc's rules",
  'seed-v1': "the rules of the seed's scripts/old/slo_gate.py",
  'seed-bench-v1': "the rules of the seed's tools/old/gate.py (its docs/specs/perf.md)",
}

export interface GateOptions {
  profile: GateProfile
  /** Whose result it is (poc when not given). */
  shape?: BenchShape
  overrides?: Partial<Thresholds>
  /**
   * A poc result's profile targets; with the strict profile they replace the thresholds they
   * name. Defaults to the result's own profile.slo_targets.
   */
  sloTargets?: SloTargets
  /** Where sloTargets came from, for the messages: "the skew profile's slo_targets". */
  sloTargetsFrom?: string
  baseline?: Baseline
  maxRegressionPercent?: number
}

interface Rule {
  name: string
  metric: string
  label: string
  unit: string
  operator: SloCheck['operator']
  threshold: number
  severity: Severity
  /** Where the threshold came from, when not the gate profile or a flag. */
  from?: string
  /** Why the seed's gate does not count the check, which is then a note (severity info). */
  notJudged?: string
  /** What the seed's gate does when the metric is missing, after "poc fails a missing metric on purpose". */
  seedOnMissing: string
}

const fastPathP99 = 'metrics.fast_path.process_latency_us.p99'
const skipsIt = "where the seed's gate skips the check"
const countsZero = "where the seed's gate counts it as 0"

function thresholdRules(t: Thresholds, from: Partial<Record<keyof Thresholds, string>>): Rule[] {
  const dropOperator = t.dropCountMax === undefined ? '==' : '<='
  return [
    {
      name: 'fast_path_p99',
      metric: fastPathP99,
      label: 'fast-path p99',
      unit: ' µs',
      operator: '<=',
      threshold: t.p99Us,
      severity: 'critical',
      from: from.p99Us,
      seedOnMissing: skipsIt,
    },
    {
      name: 'fast_path_p999',
      metric: 'metrics.fast_path.process_latency_us.p999',
      label: 'fast-path p99.9',
      unit: ' µs',
      operator: '<=',
      threshold: t.p999Us,
      severity: 'critical',
      from: from.p999Us,
      seedOnMissing: skipsIt,
    },
    {
      name: 'tail_ratio',
      metric: 'metrics.summary.tail_ratio',
      label: 'tail ratio p99/p50',
      unit: '',
      operator: '<=',
      threshold: t.tailRatioMax,
      severity: 'warning',
      from: from.tailRatioMax,
      seedOnMissing: skipsIt,
    },
    {
      name: 'drop_count',
      metric: 'metrics.fast_path.drop_count',
      label: 'fast-path drop count',
      unit: '',
      operator: dropOperator,
      threshold: t.dropCountMax ?? 0,
      severity: 'critical',
      from: from.dropCountMax,
      seedOnMissing: countsZero,
    },
    {
      name: 'error_rate',
      metric: 'metrics.summary.error_rate_percent',
      label: 'error rate',
      unit: ' %',
      operator: '<=',
      threshold: t.errorRatePercentMax,
      severity: 'critical',
      from: from.errorRatePercentMax,
      seedOnMissing: countsZero,
    },
    {
      name: 'throughput',
      metric: 'metrics.summary.throughput_events_per_sec',
      label: 'throughput',
      unit: ' events/s',
      operator: '>=',
      threshold: t.throughputMin,
      severity: 'critical',
      from: from.throughputMin,
      seedOnMissing: skipsIt,
    },
  ]
}

/** The threshold flags, by the Thresholds key they set (for messages about flags). */
export const thresholdFlags: Record<keyof Thresholds, string> = {
  p99Us: '--p99-us',
  p999Us: '--p999-us',
  tailRatioMax: '--tail-ratio-max',
  dropCountMax: '--drop-count-max',
  errorRatePercentMax: '--error-rate-percent-max',
  throughputMin: '--throughput-min',
}

const isSmokeCase = (result: object) =>
  String((result as {case?: unknown}).case ?? '').startsWith('blackbox_')

/** tools/old/gate.py over a contracts/bench/v1 result. */
function seedBenchRules(result: object, overrides: Partial<Thresholds>): Rule[] {
  const notApplicable = (Object.keys(overrides) as Array<keyof Thresholds>).filter((k) => k !== 'p99Us')
  if (notApplicable.length > 0) {
    throw usageError(
      `${notApplicable.map((k) => thresholdFlags[k]).join(', ')} cannot apply to ${shapeTitles['seed-bench-v1']}: its gate judges metrics.latency_us.p99 (--p99-us) and metrics.gc_pause_ms.p99 only`,
    )
  }
  const smoke = isSmokeCase(result)
  return [
    {
      name: 'latency_p99',
      metric: 'metrics.latency_us.p99',
      label: 'p99 latency',
      unit: ' µs',
      operator: '<=',
      threshold: overrides.p99Us ?? seedBenchRequirements.latencyP99Us,
      severity: 'critical',
      from: overrides.p99Us === undefined ? "the seed's REQ-PERF-001" : undefined,
      notJudged: smoke
        ? `case ${String((result as {case?: unknown}).case)} is a blackbox_ smoke test, to which the seed's REQ-PERF-001 does not apply`
        : undefined,
      seedOnMissing: "as the seed's gate does",
    },
    {
      name: 'gc_pause_p99',
      metric: 'metrics.gc_pause_ms.p99',
      label: 'GC pause p99',
      unit: ' ms',
      operator: '<=',
      threshold: seedBenchRequirements.gcPauseP99Ms,
      severity: 'critical',
      from: "the seed's REQ-PERF-002",
      seedOnMissing: skipsIt,
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
function standing(operator: SloCheck['operator'], passed: boolean, severity: Severity, limit: string) {
  const warning = severity === 'warning' ? 'warning ' : ''
  if (operator === '<=') return passed ? `at most ${limit}` : `above the ${warning}limit of ${limit}`
  if (operator === '>=') return passed ? `at least ${limit}` : `below the ${warning}minimum of ${limit}`
  return passed ? 'as required' : `where ${limit} is required`
}

function missingHint(metric: string, shape: BenchShape): string {
  if (shape !== 'poc') return ''
  if (metric.startsWith('metrics.fast_path.'))
    return ': only a bench against the gateway has fast-path figures; another target has none to judge'
  if (metric === 'metrics.summary.tail_ratio') return ': it needs a fast-path p50 above 0 to divide by'
  if (metric.startsWith('metrics.http.')) return ': only a poc bench has client-side figures'
  return ': the bench that wrote it did not record it'
}

/**
 * A metric that is not there cannot have met its threshold. As a warning it would let a result
 * without fast-path figures through, so it is critical whatever the rule's severity; the check is
 * of the metric's presence (== 1, actual 0), so every number in it is true.
 */
function missingCheck(
  base: {name: string; metric: string},
  shape: BenchShape,
  needs: string,
  seedOnMissing: string,
): SloCheck {
  return {
    ...base,
    operator: '==',
    threshold: 1,
    actual: 0,
    passed: false,
    severity: 'critical',
    missing: true,
    message: `${base.metric} is missing from the result${missingHint(base.metric, shape)}. poc fails a missing metric on purpose, ${seedOnMissing} (the check needs ${needs})`,
  }
}

function check(rule: Rule, result: object, shape: BenchShape): SloCheck {
  const {name, metric, operator, threshold} = rule
  const limit = `${formatNumber(threshold)}${rule.unit}`
  const actual = metricAt(result, metric)
  if (actual === undefined)
    return missingCheck({name, metric}, shape, `${operator} ${limit}`, rule.seedOnMissing)
  const passed = holds(actual, operator, threshold)
  const severity = rule.notJudged ? 'info' : rule.severity
  const from = rule.from ? ` (${rule.from})` : ''
  const verdict = `${rule.label} is ${formatNumber(actual)}${rule.unit}, ${standing(operator, passed, severity, limit)}${from}`
  return {
    name,
    metric,
    operator,
    threshold,
    actual,
    passed,
    severity,
    message: rule.notJudged ? `not judged: ${rule.notJudged}; ${verdict}` : verdict,
  }
}

const p99Labels: Record<string, string> = {
  [fastPathP99]: 'fast-path p99',
  'metrics.latency_us.p99': 'p99 latency',
  'metrics.http.raw_latency_us.p99': 'HTTP round-trip p99 (raw)',
}

/** What to call the p99 at a metric path: "fast-path p99". */
export function p99Label(metric: string): string {
  return p99Labels[metric] ?? metric
}

/** Which of the result's p99s a baseline is compared with, and what to call it. */
function comparedP99(baseline: Baseline, shape: BenchShape): {metric: string; label: string} {
  let metric = fastPathP99
  if (baseline.latency === 'round_trip') metric = 'metrics.http.raw_latency_us.p99'
  else if (shape === 'seed-bench-v1') metric = 'metrics.latency_us.p99'
  return {metric, label: p99Label(metric)}
}

/** Why tools/old/gate.py would not compare a contracts/bench/v1 result with this baseline. */
function seedBenchSkip(result: object, baseline: Baseline): string | undefined {
  const r = result as {case?: unknown; env?: unknown}
  if (isSmokeCase(result))
    return `case ${String(r.case)} is a blackbox_ smoke test, which the seed's gate does not compare`
  if (baseline.case !== r.case || baseline.env !== r.env) {
    return `the baseline is of case ${baseline.case ?? '(none)'}, env ${baseline.env ?? '(none)'}, this result of case ${String(r.case)}, env ${String(r.env)}, which the seed's gate does not compare`
  }
  return undefined
}

function regressionCheck(
  result: object,
  shape: BenchShape,
  baseline: Baseline,
  maxRegressionPercent: number,
): {check: SloCheck; comparison: BaselineComparison | undefined} {
  const baselineP99 = baseline.p99Us
  if (baselineP99 === undefined || baselineP99 <= 0) {
    throw new PocError(
      `the baseline ${baseline.file} has no p99 above 0 to compare against (${baseline.metric})`,
      {
        exitCode: ExitCode.unavailable,
        code: 'baseline_unusable',
        suggestions: ['Bless a bench run against the gateway as the baseline (poc bench --bless).'],
      },
    )
  }
  const compared = comparedP99(baseline, shape)
  const actualP99 = metricAt(result, compared.metric)
  const limit = `${formatNumber(maxRegressionPercent)} %`
  if (actualP99 === undefined) {
    return {
      check: missingCheck(
        {name: 'p99_regression', metric: compared.metric},
        shape,
        `at most ${limit} above ${formatNumber(baselineP99)} µs in the baseline ${baseline.file}`,
        "which the seed's gate would not compare",
      ),
      comparison: undefined,
    }
  }
  // Rounded before it is judged, so the verdict agrees with the figure everyone reads.
  const regression = Math.round(((actualP99 - baselineP99) / baselineP99) * 100 * 100) / 100
  const passed = regression <= maxRegressionPercent
  const notJudged = shape === 'seed-bench-v1' ? seedBenchSkip(result, baseline) : undefined
  const severity: Severity = notJudged ? 'info' : 'critical'
  const resultRunner = (result as Partial<BenchResult>).environment?.runner_label
  let whose = ''
  if (baseline.kind !== 'poc') whose = ` (the baseline is ${baseline.label})`
  else if (baseline.runnerLabel !== resultRunner)
    whose = ` (the baseline is from runner ${baseline.runnerLabel}, this result from ${resultRunner ?? 'elsewhere'})`
  const change = `${regression >= 0 ? '+' : ''}${formatNumber(regression)} %`
  const verdict = `${compared.label} ${formatNumber(actualP99)} µs against ${formatNumber(baselineP99)} µs in the baseline: ${change}, ${standing('<=', passed, severity, limit)}${whose}`
  return {
    check: {
      name: 'p99_regression',
      metric: compared.metric,
      operator: '<=',
      threshold: maxRegressionPercent,
      actual: regression,
      passed,
      severity,
      message: notJudged ? `not judged: ${notJudged}; ${verdict}` : verdict,
    },
    comparison: {
      file: baseline.file,
      kind: baseline.kind,
      label: baseline.label,
      metric: compared.metric,
      ...(baseline.runnerLabel === undefined ? {} : {runner_label: baseline.runnerLabel}),
      baseline_p99_us: baselineP99,
      current_p99_us: actualP99,
      actual_p99_us: actualP99,
      regression_percent: regression,
      max_regression_percent: maxRegressionPercent,
      passed,
      ...(notJudged ? {not_judged: notJudged} : {}),
    },
  }
}

/** FAIL when a critical check failed (error in what an older poc wrote), WARN when a warning did. */
export function complianceStatus(
  checks: Array<Pick<StoredSloCheck, 'passed' | 'severity'>>,
): SloCompliance['status'] {
  const failed = checks.filter((c) => !c.passed)
  if (failed.some((c) => c.severity === 'critical' || c.severity === 'error')) return 'FAIL'
  return failed.some((c) => c.severity === 'warning') ? 'WARN' : 'PASS'
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
    severity: 'critical',
    message: m.valid
      ? `ran ${formatNumber(m.elapsed_sec)} s as planned, ${formatNumber(m.schedule_miss_percent)} % of requests late or unsent`
      : `invalid measurement, not judged as an SLO miss: ${m.invalid_reasons.join('; ')}`,
  }
}

/** A profile's slo_targets as the thresholds they replace. */
export function targetThresholds(targets: SloTargets): Partial<Thresholds> {
  const thresholds: Partial<Thresholds> = {
    p99Us: targets.fast_path_p99_us,
    p999Us: targets.fast_path_p999_us,
    tailRatioMax: targets.tail_ratio_max,
    // drop_count 0 is the gate's own "no drop at all" (==); more is "at most" (<=).
    dropCountMax: targets.drop_count ? targets.drop_count : undefined,
    errorRatePercentMax: targets.error_rate_percent,
    throughputMin: targets.throughput_min_events_per_sec,
  }
  return definedOnly(thresholds)
}

/**
 * Judge a schema-valid bench result (SPEC §6.5): a poc or seed-v1 result against the profile's
 * thresholds (a poc result's slo_targets first, with strict), a seed-bench-v1 result against the
 * seed's docs/specs/perf.md; then the baseline, if any.
 */
export function gate(result: object, options: GateOptions): SloCompliance {
  const shape = options.shape ?? 'poc'
  const overrides = definedOnly(options.overrides)
  const checks: SloCheck[] = []
  if (shape === 'seed-bench-v1') {
    checks.push(...seedBenchRules(result, overrides).map((rule) => check(rule, result, shape)))
  } else {
    let fromTargets: Partial<Thresholds> = {}
    const profile = (result as Partial<BenchResult>).profile
    const targets = options.sloTargets ?? profile?.slo_targets
    if (shape === 'poc' && options.profile === 'strict' && targets) fromTargets = targetThresholds(targets)
    const thresholds: Thresholds = {...profileThresholds[options.profile], ...fromTargets, ...overrides}
    const targetsFrom =
      options.sloTargetsFrom ?? `the ${profile?.label ?? profile?.name} profile's slo_targets`
    const from = Object.fromEntries(
      Object.keys(fromTargets)
        .filter((k) => !(k in overrides))
        .map((k) => [k, targetsFrom]),
    )
    const validity = shape === 'poc' ? measurementCheck(result as BenchResult) : undefined
    if (validity) checks.push(validity)
    checks.push(...thresholdRules(thresholds, from).map((rule) => check(rule, result, shape)))
  }
  let comparison: BaselineComparison | undefined
  if (options.baseline) {
    const max =
      options.maxRegressionPercent ??
      (shape === 'seed-bench-v1' ? seedBenchMaxRegressionPercent : defaultMaxRegressionPercent)
    const regression = regressionCheck(result, shape, options.baseline, max)
    checks.push(regression.check)
    comparison = regression.comparison
  }
  return {
    status: complianceStatus(checks),
    ...(shape === 'seed-bench-v1' ? {} : {profile: options.profile}),
    shape,
    checks,
    ...(comparison ? {baseline_comparison: comparison} : {}),
  }
}

function definedOnly<T extends object>(values: T = {} as T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** The verdict on a file that follows no bench schema: it is broken, which fails the gate as such. */
export function schemaFailure(
  profile: GateProfile,
  errors: SchemaError[],
  shape: BenchShape = 'poc',
  schemaFile = 'fixtures/schemas/bench.v1.schema.json',
): SloCompliance {
  return {
    status: 'FAIL',
    profile,
    shape,
    checks: [
      {
        name: 'schema',
        metric: schemaFile,
        operator: '==',
        threshold: 0,
        actual: errors.length,
        passed: false,
        severity: 'critical',
        message: `the file is not ${shapeTitles[shape]} (${errors.length} schema error${errors.length === 1 ? '' : 's'} against ${schemaFile}), so no SLO was judged`,
      },
    ],
  }
}

export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value)
  return String(Number(Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3)))
}

/** What `poc gate` did: the verdict and where it went. */
export interface GateFileResult extends Omit<SloCompliance, 'baseline_comparison' | 'shape'> {
  file: string
  /** Whose result the file is, and so whose rules judged it. */
  shape: BenchShape
  /** The schema the file was validated against. */
  schema: string
  baseline_comparison: BaselineComparison | null
  /** False when the file follows no bench schema: a verdict is not written into a broken file. */
  written: boolean
  schema_errors: SchemaError[]
  github_summary: string | null
}

export interface GateFileOptions extends Omit<
  GateOptions,
  'baseline' | 'shape' | 'sloTargets' | 'sloTargetsFrom'
> {
  file: string
  baselineFile?: string
  /** Validate against this schema file instead of recognising the shape (the seed gate's --schema). */
  schemaFile?: string
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
  const detection =
    options.schemaFile === undefined
      ? detectShape(document)
      : await detectWithSchema(document, options.schemaFile)
  const baseline =
    options.baselineFile === undefined
      ? undefined
      : baselineOf(
          await readJson(path.resolve(options.baselineFile), 'baseline'),
          path.resolve(options.baselineFile),
        )
  const checkedAt = (options.now ?? new Date()).toISOString()
  let compliance: SloCompliance
  if (detection.ok) {
    const targets = detection.shape === 'poc' ? await sloTargetsFor(document as BenchResult) : undefined
    compliance = gate(document as object, {...options, shape: detection.shape, ...targets, baseline})
  } else {
    compliance = schemaFailure(options.profile, detection.errors, detection.shape, detection.schemaFile)
  }
  const stamped = withCheckedAt(compliance, checkedAt)
  if (detection.ok) {
    const updated = {...(document as object), slo_compliance: stamped}
    await writeOrExplain(file, () => writeFileAtomic(file, `${JSON.stringify(updated, null, 2)}\n`))
  }
  const {shape: _shape, baseline_comparison: comparison, ...verdict} = stamped
  const report: GateFileResult = {
    file,
    shape: detection.shape,
    schema: detection.schemaFile,
    ...verdict,
    baseline_comparison: comparison ?? null,
    written: detection.ok,
    schema_errors: detection.ok ? [] : detection.errors,
    github_summary: options.githubSummary ? path.resolve(options.githubSummary) : null,
  }
  if (report.github_summary) {
    const summaryFile = report.github_summary
    await writeOrExplain(summaryFile, () => appendFile(summaryFile, markdownSummary(report)))
  }
  return report
}

/**
 * A poc result's own slo_targets, or else those of the shipped profile it names (results written
 * before poc bench copied them in).
 */
async function sloTargetsFor(
  result: BenchResult,
): Promise<{sloTargets: SloTargets; sloTargetsFrom: string} | undefined> {
  const name = result.profile.label ?? result.profile.name
  if (result.profile.slo_targets) {
    return {sloTargets: result.profile.slo_targets, sloTargetsFrom: `the ${name} profile's slo_targets`}
  }
  const shipped = await shippedSloTargets(result.profile.name)
  return shipped ? {sloTargets: shipped, sloTargetsFrom: `the ${name} profile's slo_targets`} : undefined
}

function withCheckedAt(compliance: SloCompliance, checkedAt: string): SloCompliance {
  // checked_at beside status and profile, where a reader of the file looks first.
  const {status, profile, shape, checks, baseline_comparison} = compliance
  return {
    status,
    ...(profile ? {profile} : {}),
    ...(shape ? {shape} : {}),
    checked_at: checkedAt,
    checks,
    ...(baseline_comparison ? {baseline_comparison} : {}),
  }
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

/** Our schema over a document: the result typed when it follows it. */
export function validateBench(
  value: unknown,
): {ok: true; result: BenchResult} | {ok: false; errors: SchemaError[]} {
  const validation = validatorOf('poc')(value)
  return validation.ok ? {ok: true, result: value as BenchResult} : validation
}

/** "(light)", or whose rules judged a seed's result. */
export function verdictScope(report: Pick<GateFileResult, 'profile' | 'shape'>): string {
  if (report.shape === 'seed-bench-v1') return "as the seed's tools/old/gate.py"
  if (report.shape === 'seed-v1') return `${report.profile}, as the seed's scripts/old/slo_gate.py`
  return report.profile ?? ''
}

const verdictIcon: Record<SloCompliance['status'], string> = {PASS: '✅', WARN: '⚠️', FAIL: '❌'}

/** The GitHub step summary: verdict heading, the checks, the baseline comparison. */
export function markdownSummary(report: GateFileResult): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|')
  const lines = [
    `## ${verdictIcon[report.status]} SLO gate ${report.status} (${verdictScope(report)})`,
    '',
    `\`${cell(path.basename(report.file))}\`, checked at ${report.checked_at ?? ''}`,
    '',
  ]
  if (report.schema_errors.length > 0) {
    lines.push(
      `The bench file is broken: it does not follow \`${cell(report.schema)}\`, so no SLO was judged.`,
      '',
      ...report.schema_errors.map((e) => `- \`${cell(e.instancePath || '/')}\` ${cell(e.message)}`),
      '',
    )
  } else {
    if (report.shape !== 'poc')
      lines.push(`Judged as ${shapeTitles[report.shape]}, by ${shapeRules[report.shape]}.`, '')
    lines.push(
      '| check | metric | operator | threshold | actual | severity | result |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...report.checks.map(
        (c) =>
          `| ${c.name} | \`${c.metric}\` | ${cell(c.operator)} | ${formatNumber(c.threshold)} | ${actualText(c)} | ${c.severity} | ${checkResult(c)} |`,
      ),
      '',
    )
    const failed = report.checks.filter((c) => !c.passed)
    if (failed.length > 0) lines.push(...failed.map((c) => `- **${c.name}**: ${cell(c.message)}`), '')
  }
  const b = report.baseline_comparison
  if (b) {
    lines.push(
      `**Baseline** \`${cell(path.basename(b.file))}\` (${cell(b.label)}): ${p99Label(b.metric)} ${formatNumber(b.baseline_p99_us)} µs → ${formatNumber(b.current_p99_us)} µs, ${b.regression_percent >= 0 ? '+' : ''}${formatNumber(b.regression_percent)} % (max ${formatNumber(b.max_regression_percent)} %): ${b.not_judged ? 'not judged' : b.passed ? 'pass' : 'FAIL'}`,
      '',
    )
  }
  return `${lines.join('\n')}\n`
}

/** The measured value, or "missing". */
export function actualText(c: Pick<StoredSloCheck, 'actual' | 'missing'>): string {
  return c.missing || c.actual === null ? 'missing' : formatNumber(c.actual)
}

/** pass, FAIL, WARN for a failed warning, note for a failed info check (it does not count). */
export function checkResult(
  c: Pick<StoredSloCheck, 'passed' | 'severity'>,
): 'pass' | 'WARN' | 'FAIL' | 'note' {
  if (c.passed) return 'pass'
  if (c.severity === 'warning') return 'WARN'
  return c.severity === 'info' ? 'note' : 'FAIL'
}
