import assert from 'node:assert/strict'
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import type {BenchResult} from '../../src/contract/bench.js'
import type {GateFileResult} from '../../src/checks/gate.js'
import {makeHome, parseJson, repoRoot, runPoc} from '../helpers.js'

// No servers: poc gate only reads and writes files.
const home = makeHome('gate')
after(() => rmSync(home, {recursive: true, force: true}))

const sampleText = readFileSync(path.join(repoRoot, 'fixtures', 'bench', 'sample-result.json'), 'utf8')
let files = 0

/** A copy of the sample in the test's home, changed by `edit`; answers its path. */
function benchFile(edit: (r: BenchResult) => void = () => undefined): string {
  const result = JSON.parse(sampleText) as BenchResult
  edit(result)
  const file = path.join(home, `bench-${++files}.json`)
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
  return file
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as BenchResult

/** poc gate, never appending to the summary of a CI job that runs these tests. */
const gate = (args: string[], env: Record<string, string> = {}) =>
  runPoc(home, ['gate', ...args], {GITHUB_STEP_SUMMARY: '', ...env})

describe('poc gate', () => {
  it('exits 0 on PASS and writes slo_compliance into the file, keeping the rest', async () => {
    const file = benchFile()
    const run = await gate(['--in', file, '--profile', 'light'])
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.match(
      run.stdout,
      /^fast_path_p99 +metrics\.fast_path\.process_latency_us\.p99 +<= +300 +80 +pass$/m,
    )
    assert.match(run.stdout, /SLO gate PASS \(light\): all 6 checks passed\./)
    const written = readJson(file)
    assert.equal(written.slo_compliance?.status, 'PASS')
    assert.equal(written.slo_compliance?.profile, 'light')
    assert.equal(written.slo_compliance?.checks.length, 6)
    assert.ok(Date.now() - Date.parse(written.slo_compliance?.checked_at ?? '') < 60_000, 'checked_at is now')
    const {slo_compliance: _, ...rest} = written
    assert.deepEqual(rest, JSON.parse(sampleText))
  })

  it('exits 1 on FAIL, names the failed check, and still writes the verdict', async () => {
    const file = benchFile()
    const run = await gate(['--in', file])
    assert.equal(run.exitCode, 1, run.stdout + run.stderr)
    assert.match(run.stdout, /throughput: throughput is 1000 events\/s, below the minimum of 10000 events\/s/)
    assert.match(run.stdout, /SLO gate FAIL \(strict\): throughput failed\./)
    assert.equal(readJson(file).slo_compliance?.status, 'FAIL')
  })

  it('exits 0 on WARN', async () => {
    const file = benchFile((r) => (r.metrics.summary.tail_ratio = 30))
    const run = await gate(['--in', file, '--profile', 'light'])
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /SLO gate WARN \(light\): only warnings: tail_ratio\./)
    assert.equal(readJson(file).slo_compliance?.status, 'WARN')
  })

  it('takes threshold overrides and a baseline', async () => {
    const baseline = benchFile((r) => (r.metrics.fast_path!.process_latency_us.p99 = 50))
    const file = benchFile()
    const args = ['--in', file, '--throughput-min', '1000', '--baseline', baseline]
    const failed = await gate(args)
    assert.equal(failed.exitCode, 1, failed.stdout + failed.stderr)
    assert.match(failed.stdout, /SLO gate FAIL \(strict\): p99_regression failed\./)
    assert.match(failed.stdout, /fast-path p99 50 → 80 µs, \+60 % \(max 20 %\)/)
    const passed = await gate([...args, '--max-regression', '60'])
    assert.equal(passed.exitCode, 0, passed.stdout + passed.stderr)
    assert.equal(readJson(file).slo_compliance?.baseline_comparison?.regression_percent, 60)
  })

  it('fails a file that does not follow the schema as such (exit 1), listing the errors, leaving it alone', async () => {
    const file = benchFile((r) => {
      r.metrics.summary.tail_ratio = 0
      delete (r.metrics as Partial<BenchResult['metrics']>).http
    })
    const before = readFileSync(file, 'utf8')
    const run = await gate(['--in', file, '--profile', 'light'])
    assert.equal(run.exitCode, 1, run.stdout + run.stderr)
    assert.match(
      run.stdout,
      /does not follow fixtures\/schemas\/bench\.v1\.schema\.json \(2 schema error\(s\)\)/,
    )
    assert.match(run.stdout, /^ {2}\/metrics must have required property 'http'$/m)
    assert.match(run.stdout, /^ {2}\/metrics\/summary\/tail_ratio must be >= 1$/m)
    assert.match(run.stdout, /SLO gate FAIL: the bench file is broken/)
    assert.equal(readFileSync(file, 'utf8'), before)
  })

  it('exits 2 on a bad flag value, touching nothing', async () => {
    const file = benchFile()
    for (const args of [
      ['--p99-us', 'fast'],
      ['--max-regression', '-5'],
      ['--drop-count-max', '0.5'],
      ['--profile', 'medium'],
    ]) {
      const run = await gate(['--in', file, ...args])
      assert.equal(run.exitCode, 2, `${args.join(' ')}: ${run.stdout}${run.stderr}`)
    }
    assert.equal(readFileSync(file, 'utf8'), `${JSON.stringify(JSON.parse(sampleText), null, 2)}\n`)
  })

  it('exits 3 when the file cannot be read or is not JSON, or the baseline is unusable', async () => {
    const missing = await gate(['--in', path.join(home, 'nowhere.json')])
    assert.equal(missing.exitCode, 3, missing.stdout + missing.stderr)
    assert.match(missing.stderr, /cannot read the bench result .*nowhere\.json: ENOENT/)

    const notJson = path.join(home, 'not-json.json')
    writeFileSync(notJson, 'p99: 80\n')
    const garbled = await gate(['--in', notJson])
    assert.equal(garbled.exitCode, 3, garbled.stdout + garbled.stderr)
    assert.match(garbled.stderr, /the bench result .*not-json\.json is not JSON/)

    const brokenBaseline = benchFile((r) => ((r as {version: string}).version = 'bench.v2'))
    const run = await gate(['--in', benchFile(), '--baseline', brokenBaseline])
    assert.equal(run.exitCode, 3, run.stdout + run.stderr)
    assert.match(run.stderr, /\/version must be equal to one of the allowed values \["v1","bench.v1"\]/)
    assert.match(run.stderr, /the baseline .* is neither a bench result/)
  })

  it('appends the Markdown summary to --github-summary', async () => {
    const summary = path.join(home, 'summary.md')
    writeFileSync(summary, '# earlier step\n\n')
    const file = benchFile()
    const run = await gate(['--in', file, '--profile', 'light', '--github-summary', summary])
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    await gate(['--in', file, '--github-summary', summary])
    const markdown = readFileSync(summary, 'utf8')
    assert.ok(markdown.startsWith('# earlier step\n\n## ✅ SLO gate PASS (light)\n'), markdown)
    assert.match(markdown, /^## ❌ SLO gate FAIL \(strict\)$/m)
    assert.match(
      markdown,
      /^\| throughput \| `metrics\.summary\.throughput_events_per_sec` \| >= \| 10000 \| 1000 \| critical \| FAIL \|$/m,
    )
  })

  it('appends it to $GITHUB_STEP_SUMMARY when no --github-summary is given', async () => {
    const summary = path.join(home, 'step-summary.md')
    writeFileSync(summary, '')
    const baseline = benchFile()
    const run = await gate(['--in', benchFile(), '--profile', 'light', '--baseline', baseline], {
      GITHUB_STEP_SUMMARY: summary,
    })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /summary appended to .*step-summary\.md/)
    const markdown = readFileSync(summary, 'utf8')
    assert.match(markdown, /^## ✅ SLO gate PASS \(light\)$/m)
    assert.match(
      markdown,
      /\*\*Baseline\*\* `bench-\d+\.json` \(runner sample\): fast-path p99 80 µs → 80 µs, \+0 %/,
    )
  })

  it('prints the verdict and the file with --json, and nothing else', async () => {
    const file = benchFile()
    const run = await gate(['--in', file, '--json'])
    assert.equal(run.exitCode, 1, run.stdout + run.stderr)
    const result = parseJson<GateFileResult>(run)
    assert.deepEqual(Object.keys(result), [
      'file',
      'shape',
      'schema',
      'status',
      'profile',
      'checked_at',
      'checks',
      'baseline_comparison',
      'written',
      'schema_errors',
      'github_summary',
    ])
    assert.equal(result.file, file)
    assert.equal(result.status, 'FAIL')
    assert.deepEqual(
      result.checks.map((c) => c.name),
      ['fast_path_p99', 'fast_path_p999', 'tail_ratio', 'drop_count', 'error_rate', 'throughput'],
    )
    assert.equal(result.baseline_comparison, null)
    assert.deepEqual(readJson(file).slo_compliance, {
      status: result.status,
      profile: result.profile,
      shape: 'poc',
      checked_at: result.checked_at,
      checks: result.checks,
    })

    const broken = await gate(['--in', benchFile((r) => (r.timestamp = 'noon')), '--json'])
    assert.equal(broken.exitCode, 1, broken.stdout + broken.stderr)
    const invalid = parseJson<GateFileResult>(broken)
    assert.deepEqual(
      [invalid.status, invalid.written, invalid.checks.map((c) => c.name)],
      ['FAIL', false, ['schema']],
    )
    assert.deepEqual(invalid.schema_errors, [
      {instancePath: '/timestamp', message: 'must match format "date-time"'},
    ])
  })
})

/** What the seed's bench/old/run_canary.sh writes (its contracts/bench.v1.schema.json). */
interface CanaryResult {
  version: string
  timestamp: string
  environment: {type?: string; config: Record<string, unknown>; git_commit?: string; git_branch?: string}
  profile: {name: string; duration_sec: number; events_total: number; warmup_events?: number; keys?: string[]}
  metrics: {
    fast_path: {
      count: number
      process_latency_us: {p50: number; p99: number; p999: number}
      publish_latency_us?: {p50: number; p99: number; p999: number}
      drop_count: number
    }
    persistence_queue: {write_latency_us: {p99: number}; error_count: number; lag: number}
    summary: {tail_ratio: number; throughput_events_per_sec: number; error_rate_percent?: number}
  }
  slo_compliance?: {status: string; checks: unknown[]}
}

/** A result as the seed's bench/old/run_canary.sh writes it (its contracts/bench.v1.schema.json). */
function canaryFile(edit: (r: CanaryResult) => void = () => undefined): string {
  const result: CanaryResult = {
    version: 'v1',
    timestamp: '2026-01-10T09:00:00Z',
    environment: {type: 'ci', config: {fast_path_enable: true}, git_commit: 'abc', git_branch: 'main'},
    profile: {name: 'burst', duration_sec: 60, events_total: 10000, warmup_events: 500, keys: ['BTC']},
    metrics: {
      fast_path: {count: 10000, process_latency_us: {p50: 8, p99: 40, p999: 900}, drop_count: 0},
      persistence_queue: {write_latency_us: {p99: 12}, error_count: 0, lag: 0},
      summary: {tail_ratio: 5, throughput_events_per_sec: 166.6, error_rate_percent: 0},
    },
    slo_compliance: {status: 'PASS', checks: []},
  }
  edit(result)
  const file = path.join(home, `canary-${++files}.json`)
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
  return file
}

function jsonFile(name: string, value: unknown): string {
  const file = path.join(home, name)
  writeFileSync(file, JSON.stringify(value))
  return file
}

const seedSchema = path.join(repoRoot, 'fixtures', 'schemas', 'seed', 'bench.v1.schema.json')

describe('poc gate over the seed’s files, with the seed gate’s flags', () => {
  it('judges a seed result as the seed’s slo_gate.py with --schema, --throughput-min-events-per-sec and --verbose', async () => {
    const file = canaryFile()
    const run = await gate([
      '--in',
      file,
      '--schema',
      seedSchema,
      '--profile',
      'light',
      '--throughput-min-events-per-sec',
      '100',
      '--verbose',
    ])
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.match(
      run.stdout,
      /^Judged as a seed bench result \(its contracts\/bench\.v1\.schema\.json, version v1\), by the rules of the seed's scripts\/old\/slo_gate\.py\.$/m,
    )
    assert.match(
      run.stdout,
      /^throughput +metrics\.summary\.throughput_events_per_sec +>= +100 +166\.6 +critical +pass$/m,
    )
    // --verbose: every check's message, the passed ones too.
    assert.match(run.stdout, /^fast_path_p99: fast-path p99 is 40 µs, at most 300 µs$/m)
    assert.match(run.stdout, /^tail_ratio: tail ratio p99\/p50 is 5, at most 20$/m)
    assert.match(
      run.stdout,
      /SLO gate PASS \(light, as the seed's scripts\/old\/slo_gate\.py\): all 6 checks passed\./,
    )
    const written = JSON.parse(readFileSync(file, 'utf8'))
    assert.equal(written.slo_compliance.status, 'PASS')
    assert.deepEqual(
      written.slo_compliance.checks.map((c: {severity: string}) => c.severity),
      ['critical', 'critical', 'warning', 'critical', 'critical', 'critical'],
    )
  })

  it('--no-fail reports a FAIL and exits 0; without it the same file exits 1', async () => {
    const file = canaryFile()
    const failed = await gate(['--in', file])
    assert.equal(failed.exitCode, 1, failed.stdout + failed.stderr)
    assert.match(
      failed.stdout,
      /SLO gate FAIL \(strict, as the seed's scripts\/old\/slo_gate\.py\): throughput failed\./,
    )
    const reported = await gate(['--in', file, '--no-fail', '--json'])
    assert.equal(reported.exitCode, 0, reported.stdout + reported.stderr)
    assert.equal(parseJson<GateFileResult>(reported).status, 'FAIL')
    const human = await gate(['--in', file, '--no-fail'])
    assert.equal(human.exitCode, 0)
    assert.match(human.stdout, /--no-fail: exit 0 although the gate failed/)
  })

  it('--schema: a file that does not follow that schema is broken (exit 1), listing the errors against it', async () => {
    const file = canaryFile((r) => delete r.environment.type)
    const run = await gate(['--in', file, '--schema', seedSchema])
    assert.equal(run.exitCode, 1, run.stdout + run.stderr)
    assert.match(
      run.stdout,
      /does not follow .*fixtures\/schemas\/seed\/bench\.v1\.schema\.json \(1 schema error\(s\)\)/,
    )
    assert.match(run.stdout, /^ {2}\/environment must have required property 'type'$/m)
    const unreadable = await gate(['--in', file, '--schema', path.join(home, 'no-schema.json')])
    assert.equal(unreadable.exitCode, 3, unreadable.stdout + unreadable.stderr)
    assert.match(unreadable.stderr, /the schema .*no-schema\.json cannot be read/)
  })

  it('takes the seed’s baseline files as --baseline: baseline/seed.json and baseline/perf_gate_rust.json', async () => {
    const seedBaseline = jsonFile('seed.json', {
      schema: 'bench.v1',
      run_id: 'seed-000',
      commit: '0000000',
      case: 'match_engine_hot',
      env: 'gha|JDK21|G1',
      metrics: {latency_us: {p99: 950}, gc_pause_ms: {p99: 3.0}},
    })
    const perfGate = jsonFile('perf_gate_rust.json', {
      bench: {max_us: 926.4, p50_us: 101.1, p99_us: 338.7, throughput_rps: 9115.5},
      updated_at: '2026-01-10T09:51:06.189924Z',
      wrk: {latency_avg_ms: 5.45, throughput_rps: 113754.72},
    })
    // A seed contracts/bench/v1 result against its own baseline, as its tools/old/gate.py: +5 % at most.
    const pr = jsonFile('pr.json', {
      schema: 'bench.v1',
      run_id: 'pr-1',
      commit: 'abc',
      case: 'match_engine_hot',
      env: 'gha|JDK21|G1',
      metrics: {latency_us: {p99: 990}, gc_pause_ms: {p99: 2}},
    })
    const passed = await gate(['--in', pr, '--baseline', seedBaseline])
    assert.equal(passed.exitCode, 0, passed.stdout + passed.stderr)
    assert.match(passed.stdout, /^p99_regression +metrics\.latency_us\.p99 +<= +5 +4\.21 +pass$/m)
    const regressed = await gate(['--in', pr, '--baseline', seedBaseline, '--max-regression', '4'])
    assert.equal(regressed.exitCode, 1, regressed.stdout + regressed.stderr)

    // Our result against the seed's perf-gate baseline: our raw round trip (3500 µs) against its 338.7.
    const ours = await gate(['--in', benchFile(), '--profile', 'light', '--baseline', perfGate])
    assert.equal(ours.exitCode, 1, ours.stdout + ours.stderr)
    assert.match(ours.stdout, /^p99_regression +metrics\.http\.raw_latency_us\.p99 +<= +20 +933\.36 +FAIL$/m)
    assert.match(ours.stdout, /the seed's perf-gate baseline of 2026-01-10T09:51:06\.189924Z/)
  })
})
