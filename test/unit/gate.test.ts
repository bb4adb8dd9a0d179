import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {baselineOf} from '../../src/checks/bench/baseline.js'
import type {BenchResult, SloCompliance} from '../../src/contract/bench.js'
import {
  type GateFileResult,
  type GateOptions,
  type GateProfile,
  gate,
  markdownSummary,
  schemaFailure,
  validateBench,
} from '../../src/checks/gate.js'
import {ExitCode, PocError} from '../../src/stack/errors.js'
import {repoRoot} from '../helpers.js'

const sampleText = readFileSync(path.join(repoRoot, 'fixtures', 'bench', 'sample-result.json'), 'utf8')

/** A fresh copy of the sample, changed by `edit`. */
function sample(edit: (r: BenchResult) => void = () => undefined): BenchResult {
  const result = JSON.parse(sampleText) as BenchResult
  edit(result)
  return result
}

/** The sample is a shared-runner result: 1000 events/s. This copy also meets the strict SLO. */
function strictPassing(edit: (r: BenchResult) => void = () => undefined): BenchResult {
  return sample((r) => {
    r.metrics.summary.throughput_events_per_sec = 10_000
    edit(r)
  })
}

const failedChecks = (c: SloCompliance) =>
  c.checks.filter((check) => !check.passed).map((check) => check.name)
const checkNamed = (c: SloCompliance, name: string) => {
  const found = c.checks.find((check) => check.name === name)
  assert.ok(found, `no check named ${name}`)
  return found
}

describe('validateBench', () => {
  it('accepts the sample result', () => {
    const validation = validateBench(sample())
    assert.equal(validation.ok, true, JSON.stringify(validation))
  })

  it('accepts a result written before poc followed the seed: version bench.v1, keys as weights, severity error, actual null', () => {
    const legacy = sample((r) => {
      ;(r as {version: string}).version = 'bench.v1'
      delete r.schema
      r.profile.keys = {BTC: 70, ETH: 30}
      r.slo_compliance = {
        status: 'FAIL',
        profile: 'light',
        checks: [
          {
            name: 'fast_path_p99',
            metric: 'metrics.fast_path.process_latency_us.p99',
            operator: '<=',
            threshold: 300,
            actual: null,
            passed: false,
            severity: 'error',
            message: 'missing',
          },
        ],
        baseline_comparison: null,
      }
    })
    const validation = validateBench(legacy)
    assert.equal(validation.ok, true, JSON.stringify(validation))
  })

  it('reports every schema error with its path: a tail ratio under 1, a wrong version, no metrics.http', () => {
    const broken = sample((r) => {
      r.metrics.summary.tail_ratio = 0
      ;(r as {version: string}).version = 'bench.v0'
      delete (r.metrics as Partial<BenchResult['metrics']>).http
    })
    const validation = validateBench(broken)
    assert.equal(validation.ok, false)
    assert.ok(!validation.ok)
    assert.deepEqual(validation.errors.map((e) => e.instancePath).sort(), [
      '/metrics',
      '/metrics/summary/tail_ratio',
      '/version',
    ])
    const message = (p: string) => validation.errors.find((e) => e.instancePath === p)?.message
    assert.equal(message('/version'), 'must be equal to one of the allowed values ["v1","bench.v1"]')
    assert.equal(message('/metrics'), "must have required property 'http'")
    assert.equal(message('/metrics/summary/tail_ratio'), 'must be >= 1')
  })

  it('checks formats: a timestamp must be a date-time', () => {
    const validation = validateBench(sample((r) => (r.timestamp = 'yesterday')))
    assert.ok(!validation.ok)
    assert.deepEqual(validation.errors, [
      {instancePath: '/timestamp', message: 'must match format "date-time"'},
    ])
  })

  it('refuses what is not an object at all', () => {
    const validation = validateBench([1, 2])
    assert.ok(!validation.ok)
    assert.deepEqual(validation.errors, [{instancePath: '', message: 'must be object'}])
  })
})

describe('gate', () => {
  it('passes the sample on the light profile, every check judged', () => {
    const compliance = gate(sample(), {profile: 'light'})
    assert.equal(compliance.status, 'PASS')
    assert.deepEqual(
      compliance.checks.map((c) => [c.name, c.operator, c.threshold, c.actual, c.passed]),
      [
        ['fast_path_p99', '<=', 300, 80, true],
        ['fast_path_p999', '<=', 10_000, 400, true],
        ['tail_ratio', '<=', 20, 4, true],
        ['drop_count', '==', 0, 0, true],
        ['error_rate', '<=', 0.01, 0, true],
        ['throughput', '>=', 500, 1000, true],
      ],
    )
    assert.equal(compliance.baseline_comparison, undefined)
  })

  it('fails the sample on the strict profile for its throughput alone', () => {
    const compliance = gate(sample(), {profile: 'strict'})
    assert.equal(compliance.status, 'FAIL')
    assert.deepEqual(failedChecks(compliance), ['throughput'])
    assert.equal(
      checkNamed(compliance, 'throughput').message,
      'throughput is 1000 events/s, below the minimum of 10000 events/s',
    )
  })

  it('passes a result exactly on every strict threshold', () => {
    const edge = strictPassing((r) => {
      r.metrics.fast_path!.process_latency_us.p99 = 100
      r.metrics.fast_path!.process_latency_us.p999 = 3000
      r.metrics.summary.tail_ratio = 12
      r.metrics.summary.error_rate_percent = 0.01
    })
    const compliance = gate(edge, {profile: 'strict'})
    assert.deepEqual(failedChecks(compliance), [])
    assert.equal(compliance.status, 'PASS')
  })

  const breaks: Array<{
    check: string
    profile: GateProfile
    edit: (r: BenchResult) => void
    status: SloCompliance['status']
  }> = [
    {
      check: 'fast_path_p99',
      profile: 'strict',
      edit: (r) => (r.metrics.fast_path!.process_latency_us.p99 = 101),
      status: 'FAIL',
    },
    {
      check: 'fast_path_p99',
      profile: 'light',
      edit: (r) => (r.metrics.fast_path!.process_latency_us.p99 = 301),
      status: 'FAIL',
    },
    {
      check: 'fast_path_p999',
      profile: 'strict',
      edit: (r) => (r.metrics.fast_path!.process_latency_us.p999 = 3001),
      status: 'FAIL',
    },
    {
      check: 'fast_path_p999',
      profile: 'light',
      edit: (r) => (r.metrics.fast_path!.process_latency_us.p999 = 10_001),
      status: 'FAIL',
    },
    {
      check: 'tail_ratio',
      profile: 'strict',
      edit: (r) => (r.metrics.summary.tail_ratio = 12.5),
      status: 'WARN',
    },
    {check: 'tail_ratio', profile: 'light', edit: (r) => (r.metrics.summary.tail_ratio = 21), status: 'WARN'},
    {
      check: 'drop_count',
      profile: 'strict',
      edit: (r) => (r.metrics.fast_path!.drop_count = 1),
      status: 'FAIL',
    },
    {
      check: 'drop_count',
      profile: 'light',
      edit: (r) => (r.metrics.fast_path!.drop_count = 1),
      status: 'FAIL',
    },
    {
      check: 'error_rate',
      profile: 'strict',
      edit: (r) => (r.metrics.summary.error_rate_percent = 0.02),
      status: 'FAIL',
    },
    {
      check: 'error_rate',
      profile: 'light',
      edit: (r) => (r.metrics.summary.error_rate_percent = 0.02),
      status: 'FAIL',
    },
    {
      check: 'throughput',
      profile: 'strict',
      edit: (r) => (r.metrics.summary.throughput_events_per_sec = 9999),
      status: 'FAIL',
    },
    {
      check: 'throughput',
      profile: 'light',
      edit: (r) => (r.metrics.summary.throughput_events_per_sec = 499),
      status: 'FAIL',
    },
  ]
  for (const {check, profile, edit, status} of breaks) {
    it(`${profile}: a broken ${check} gives ${status}, naming ${check} alone`, () => {
      const result = profile === 'strict' ? strictPassing(edit) : sample(edit)
      assert.ok(validateBench(result).ok, 'the broken copy must still follow the schema')
      const compliance = gate(result, {profile})
      assert.deepEqual(failedChecks(compliance), [check])
      assert.equal(compliance.status, status)
      assert.equal(checkNamed(compliance, check).severity, status === 'WARN' ? 'warning' : 'critical')
    })
  }

  it('thresholds differ between profiles: what fails strict can pass light', () => {
    const slowish = strictPassing((r) => (r.metrics.fast_path!.process_latency_us.p99 = 250))
    assert.deepEqual(failedChecks(gate(slowish, {profile: 'strict'})), ['fast_path_p99'])
    assert.equal(gate(slowish, {profile: 'light'}).status, 'PASS')
  })

  it('fails every fast-path check on purpose, as a check of its presence, when the result has no fast-path figures', () => {
    const other = sample((r) => delete r.metrics.fast_path)
    assert.ok(validateBench(other).ok, 'fast_path is optional in the schema')
    const compliance = gate(other, {profile: 'light'})
    assert.equal(compliance.status, 'FAIL')
    assert.deepEqual(failedChecks(compliance), ['fast_path_p99', 'fast_path_p999', 'drop_count'])
    for (const name of ['fast_path_p99', 'fast_path_p999', 'drop_count']) {
      const check = checkNamed(compliance, name)
      assert.deepEqual(
        [check.operator, check.threshold, check.actual, check.missing, check.severity],
        ['==', 1, 0, true, 'critical'],
      )
      assert.match(check.message, /is missing from the result/)
      assert.match(check.message, /gateway/)
      assert.match(
        check.message,
        name === 'drop_count'
          ? /poc fails a missing metric on purpose, where the seed's gate counts it as 0/
          : /poc fails a missing metric on purpose, where the seed's gate skips the check/,
      )
    }
  })

  it('fails a missing tail ratio as an error, though a breached one is only a warning', () => {
    const compliance = gate(
      sample((r) => delete r.metrics.summary.tail_ratio),
      {profile: 'light'},
    )
    assert.equal(compliance.status, 'FAIL')
    const check = checkNamed(compliance, 'tail_ratio')
    assert.deepEqual([check.missing, check.passed, check.severity], [true, false, 'critical'])
    assert.match(check.message, /metrics\.summary\.tail_ratio is missing/)
    assert.match(check.message, /\(the check needs <= 20\)$/)
  })

  it('is WARN when only a warning failed, FAIL when an error failed beside it', () => {
    const warned = gate(
      sample((r) => (r.metrics.summary.tail_ratio = 25)),
      {profile: 'light'},
    )
    assert.equal(warned.status, 'WARN')
    assert.equal(
      checkNamed(warned, 'tail_ratio').message,
      'tail ratio p99/p50 is 25, above the warning limit of 20',
    )
    const both = gate(
      sample((r) => {
        r.metrics.summary.tail_ratio = 25
        r.metrics.fast_path!.drop_count = 2
      }),
      {profile: 'light'},
    )
    assert.equal(both.status, 'FAIL')
    assert.deepEqual(failedChecks(both), ['tail_ratio', 'drop_count'])
  })
})

describe('gate with a baseline', () => {
  const baseline = baselineOf(sample(), '/ci/baseline.json')
  const withP99 = (p99: number) => sample((r) => (r.metrics.fast_path!.process_latency_us.p99 = p99))
  const judged = (p99: number, options: Partial<GateOptions> = {}) =>
    gate(withP99(p99), {profile: 'light', baseline, ...options})

  it('passes a p99 10 % worse than the baseline at the default 20 %', () => {
    const compliance = judged(88)
    assert.equal(compliance.status, 'PASS')
    const check = checkNamed(compliance, 'p99_regression')
    assert.deepEqual([check.threshold, check.actual, check.passed], [20, 10, true])
    assert.deepEqual(compliance.baseline_comparison, {
      file: '/ci/baseline.json',
      kind: 'poc',
      label: 'runner sample',
      metric: 'metrics.fast_path.process_latency_us.p99',
      runner_label: 'sample',
      baseline_p99_us: 80,
      current_p99_us: 88,
      actual_p99_us: 88,
      regression_percent: 10,
      max_regression_percent: 20,
      passed: true,
    })
  })

  it('fails a p99 30 % worse, naming p99_regression', () => {
    const compliance = judged(104)
    assert.equal(compliance.status, 'FAIL')
    assert.deepEqual(failedChecks(compliance), ['p99_regression'])
    assert.equal(checkNamed(compliance, 'p99_regression').actual, 30)
    assert.equal(compliance.baseline_comparison?.passed, false)
    assert.match(checkNamed(compliance, 'p99_regression').message, /\+30 %, above the limit of 20 %/)
  })

  it('takes --max-regression: 30 % worse passes at 40, 10 % worse fails at 5', () => {
    assert.equal(judged(104, {maxRegressionPercent: 40}).status, 'PASS')
    const strictRegression = judged(88, {maxRegressionPercent: 5})
    assert.deepEqual(failedChecks(strictRegression), ['p99_regression'])
    assert.equal(strictRegression.baseline_comparison?.max_regression_percent, 5)
  })

  it('passes an improvement', () => {
    const compliance = judged(60)
    assert.equal(checkNamed(compliance, 'p99_regression').actual, -25)
    assert.equal(compliance.status, 'PASS')
  })

  it('fails the comparison on purpose when the result has no fast-path p99', () => {
    const compliance = gate(
      sample((r) => delete r.metrics.fast_path),
      {profile: 'light', baseline},
    )
    const check = checkNamed(compliance, 'p99_regression')
    assert.deepEqual([check.missing, check.passed, check.severity], [true, false, 'critical'])
    assert.match(check.message, /on purpose/)
    assert.equal(compliance.baseline_comparison, undefined)
  })

  it('refuses a baseline without a fast-path p99 to compare with (exit 3)', () => {
    const useless = baselineOf(
      sample((r) => delete r.metrics.fast_path),
      '/ci/other.json',
    )
    assert.throws(
      () => gate(sample(), {profile: 'light', baseline: useless}),
      (error) =>
        error instanceof PocError &&
        error.exitCode === ExitCode.unavailable &&
        /other\.json/.test(error.message),
    )
  })

  it('says so when the baseline comes from another runner', () => {
    const other = baselineOf(
      sample((r) => (r.environment.runner_label = 'laptop')),
      '/ci/b.json',
    )
    const check = checkNamed(gate(sample(), {profile: 'light', baseline: other}), 'p99_regression')
    assert.match(check.message, /baseline is from runner laptop, this result from sample/)
  })
})

describe('gate with threshold overrides', () => {
  it('replaces only the thresholds given', () => {
    const compliance = gate(sample(), {profile: 'light', overrides: {p99Us: 50, throughputMin: undefined}})
    assert.deepEqual(failedChecks(compliance), ['fast_path_p99'])
    assert.equal(checkNamed(compliance, 'fast_path_p99').threshold, 50)
    assert.equal(checkNamed(compliance, 'throughput').threshold, 500)
  })

  it('can let the sample through the strict profile with a lower throughput minimum', () => {
    assert.equal(gate(sample(), {profile: 'strict', overrides: {throughputMin: 1000}}).status, 'PASS')
  })

  it('turns the drop check into "at most" with a drop-count maximum', () => {
    const dropped = sample((r) => (r.metrics.fast_path!.drop_count = 3))
    assert.deepEqual(failedChecks(gate(dropped, {profile: 'light'})), ['drop_count'])
    const allowed = checkNamed(gate(dropped, {profile: 'light', overrides: {dropCountMax: 3}}), 'drop_count')
    assert.deepEqual([allowed.operator, allowed.threshold, allowed.passed], ['<=', 3, true])
    const tooMany = checkNamed(gate(dropped, {profile: 'light', overrides: {dropCountMax: 2}}), 'drop_count')
    assert.equal(tooMany.passed, false)
  })

  it('moves the tail-ratio, p99.9 and error-rate thresholds', () => {
    const compliance = gate(sample(), {
      profile: 'light',
      overrides: {tailRatioMax: 3, p999Us: 399, errorRatePercentMax: 0},
    })
    assert.deepEqual(failedChecks(compliance), ['fast_path_p999', 'tail_ratio'])
    assert.equal(checkNamed(compliance, 'error_rate').threshold, 0)
    assert.equal(checkNamed(compliance, 'error_rate').passed, true)
  })
})

describe('the verdict on a broken file, and the Markdown summary', () => {
  const report = (compliance: SloCompliance, extra: Partial<GateFileResult> = {}): GateFileResult => ({
    file: '/ci/bench-result.json',
    schema: 'fixtures/schemas/bench.v1.schema.json',
    ...compliance,
    shape: 'poc',
    baseline_comparison: compliance.baseline_comparison ?? null,
    checked_at: '2026-11-23T05:00:00.000Z',
    written: true,
    schema_errors: [],
    github_summary: null,
    ...extra,
  })

  it('fails a schema-invalid file with a check named schema', () => {
    const errors = [{instancePath: '/version', message: 'must be equal to constant "v1"'}]
    const compliance = schemaFailure('light', errors)
    assert.equal(compliance.status, 'FAIL')
    assert.deepEqual(
      compliance.checks.map((c) => [c.name, c.actual, c.passed, c.severity]),
      [['schema', 1, false, 'critical']],
    )
    const markdown = markdownSummary(report(compliance, {schema_errors: errors, written: false}))
    assert.match(markdown, /^## ❌ SLO gate FAIL \(light\)\n/)
    assert.match(markdown, /The bench file is broken/)
    assert.match(markdown, /- `\/version` must be equal to constant "v1"/)
  })

  it('has the verdict, one row per check and the baseline comparison', () => {
    const baseline = baselineOf(sample(), '/ci/baseline.json')
    const compliance = gate(
      sample((r) => {
        r.metrics.fast_path!.process_latency_us.p99 = 104
        r.metrics.summary.tail_ratio = 26
      }),
      {profile: 'light', baseline},
    )
    const markdown = markdownSummary(report(compliance))
    assert.match(markdown, /^## ❌ SLO gate FAIL \(light\)\n/)
    assert.match(
      markdown,
      /\| tail_ratio \| `metrics.summary.tail_ratio` \| <= \| 20 \| 26 \| warning \| WARN \|/,
    )
    assert.match(
      markdown,
      /\| p99_regression \| `metrics.fast_path.process_latency_us.p99` \| <= \| 20 \| 30 \| critical \| FAIL \|/,
    )
    assert.equal(markdown.match(/^\| [a-z_0-9]+ \| `/gm)?.length, 7)
    assert.match(
      markdown,
      /\*\*Baseline\*\* `baseline.json` \(runner sample\): fast-path p99 80 µs → 104 µs, \+30 %/,
    )
  })
})
