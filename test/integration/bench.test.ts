import assert from 'node:assert/strict'
import {existsSync, readFileSync, rmSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {Ajv} from 'ajv'
import {Ajv2020} from 'ajv/dist/2020.js'
import {execa} from 'execa'
import type {BenchResult} from '../../src/contract/bench.js'
import {validateBench} from '../../src/checks/gate.js'
import type {BenchCommandResult} from '../../src/commands/bench.js'
import {cleanup, makeHome, parseJson, repoRoot, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.bench
/** The schema check poc gate makes (ajv over fixtures/schemas/bench.v1.schema.json). */
function assertSchemaValid(result: unknown): void {
  const validation = validateBench(result)
  assert.ok(validation.ok, JSON.stringify(validation.ok ? undefined : validation.errors))
}

const seedSchema = (file: string) =>
  JSON.parse(readFileSync(path.join(repoRoot, 'fixtures/schemas/seed', file), 'utf8')) as object
/** The seed's two bench schemas, as its Python gate checks them (no formats). */
const seedV1 = new Ajv({allErrors: true, strict: false}).compile(seedSchema('bench.v1.schema.json'))
const seedBenchV1 = new Ajv2020({allErrors: true, strict: false}).compile(seedSchema('bench-v1.schema.json'))

let home: string

describe('poc bench against the real gateway', () => {
  before(async () => {
    home = makeHome('bench')
    await upStack(home, offset, 'gateway')
  })
  after(async () => cleanup(home))

  it('loads POST /orders at the requested rate and writes a schema-valid result with the gateway’s own figures', async () => {
    const out = path.join(home, 'out', 'bench.json')
    const html = path.join(home, 'out', 'bench.html')
    const run = await runPoc(home, [
      'bench',
      '--rate',
      '300',
      '--duration',
      '3s',
      '--warmup',
      '1s',
      '--out',
      out,
      '--html',
      html,
      '--json',
    ])
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    const written = parseJson<BenchCommandResult>(run)
    assert.equal(written.out, out)
    const result = JSON.parse(readFileSync(out, 'utf8')) as BenchResult
    assertSchemaValid(result)
    const {http, fast_path: fastPath, persistence_queue: wal, summary} = result.metrics
    assert.equal(http.requests, 900)
    assert.equal(http.status_counts['202'], 900)
    assert.equal(http.unsent, 0)
    assert.equal(summary.error_rate_percent, 0)
    assert.ok(fastPath, 'the gateway’s fast-path figures')
    // The gateway's window holds exactly the measured orders (the warm-up is subtracted out).
    assert.equal(fastPath.process_latency_us.count, 900)
    assert.equal(fastPath.drop_count, 0)
    assert.equal(wal?.wal_enqueue_latency_us?.count, 900)
    // The same document follows both of the seed's schemas, with the WAL lag read from the gateway.
    assert.ok(seedV1(result), JSON.stringify(seedV1.errors))
    assert.ok(seedBenchV1(result), JSON.stringify(seedBenchV1.errors))
    assert.equal(typeof wal?.lag, 'number')
    assert.equal(fastPath.count, 900)
    assert.equal(result.case, 'gateway_constant')
    assert.ok(http.corrected_latency_us.p99 >= http.corrected_latency_us.p50)
    assert.ok(readFileSync(html, 'utf8').includes('id="latency-plot"'))
  })

  it('counts refusals of the gateway as drops and errors', async () => {
    const refusing = await runPoc(home, ['down', '--only', 'gateway'])
    assert.equal(refusing.exitCode, 0)
    const up = await runPoc(home, ['up', '--only', 'gateway', '--port-offset', String(offset)], {
      BACKPRESSURE_DISK_FREE_PCT_MIN: '100',
    })
    assert.equal(up.exitCode, 0, up.stderr)
    try {
      const out = path.join(home, 'out', 'refused.json')
      const run = await runPoc(home, [
        'bench',
        '--rate',
        '100',
        '--duration',
        '2s',
        '--warmup',
        '0s',
        '--out',
        out,
        '--json',
      ])
      assert.equal(run.exitCode, 0, run.stderr)
      const result = JSON.parse(readFileSync(out, 'utf8')) as BenchResult
      assert.equal(result.metrics.fast_path?.drop_count, 200)
      assert.equal(result.metrics.http.status_counts['503'], 200)
      assert.equal(result.metrics.summary.error_rate_percent, 100)
      assert.equal(result.metrics.summary.throughput_events_per_sec, 0)
    } finally {
      await runPoc(home, ['down', '--only', 'gateway'])
      await upStack(home, offset, 'gateway')
    }
  })

  it('aims at any URL with --url, and stores a baseline for RUNNER_LABEL with --bless', async () => {
    const out = path.join(home, 'out', 'health.json')
    const run = await execa(
      'node',
      [
        path.join(repoRoot, 'bin/run.js'),
        'bench',
        '--url',
        `http://127.0.0.1:${8081 + offset}/health`,
        '--rate',
        '200',
        '--duration',
        '3s',
        // The generator's own start-up (JIT, first connections) falls in the warm-up, not in the
        // schedule a blessed run must have kept.
        '--warmup',
        '1s',
        '--out',
        out,
        '--bless',
        '--json',
      ],
      {cwd: home, env: {POC_HOME: home, RUNNER_LABEL: 'test-runner'}, reject: false},
    )
    assert.equal(run.exitCode, 0, String(run.stderr))
    const result = JSON.parse(readFileSync(out, 'utf8')) as BenchResult
    assertSchemaValid(result)
    assert.equal(result.metrics.fast_path, undefined, 'no server-side figures for another endpoint')
    assert.equal(result.metrics.http.status_counts['200'], 600)
    assert.equal(result.measurement?.valid, true, JSON.stringify(result.measurement))
    assert.equal(result.environment.runner_label, 'test-runner')
    assert.ok(existsSync(path.join(home, 'bench', 'baselines', 'test-runner.json')))
  })

  it('writes an interrupted run as interrupted, over the time it really ran, and never blesses it', async () => {
    const out = path.join(home, 'out', 'interrupted.json')
    const child = execa(
      'node',
      [
        path.join(repoRoot, 'bin/run.js'),
        'bench',
        '--rate',
        '300',
        '--duration',
        '20s',
        '--warmup',
        '0s',
        '--out',
        out,
        '--bless',
      ],
      {cwd: home, env: {POC_HOME: home, NO_COLOR: '1', RUNNER_LABEL: 'interrupted-runner'}, reject: false},
    )
    let output = ''
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('3/20 s')) resolve()
      })
      void child.then(() => resolve())
    })
    child.kill('SIGINT')
    const run = await child
    assert.equal(run.exitCode, 130, String(run.stdout) + String(run.stderr))
    const result = JSON.parse(readFileSync(out, 'utf8')) as BenchResult
    assertSchemaValid(result)
    const m = result.measurement
    assert.ok(m)
    assert.equal(m.interrupted, true)
    assert.equal(m.valid, false)
    assert.ok(m.elapsed_sec > 2.5 && m.elapsed_sec < 10, `elapsed ${m.elapsed_sec}`)
    assert.equal(m.planned_sec, 20)
    // Throughput over the time it ran (about 300/s), not over the planned 20 s (about 60/s).
    assert.ok(result.metrics.summary.throughput_events_per_sec > 200, JSON.stringify(result.metrics.summary))
    assert.equal(result.metrics.summary.error_rate_percent, 0)
    assert.match(String(run.stdout), /INTERRUPTED after/)
    // oclif wraps warnings at the terminal width.
    const warning = String(run.stderr).replace(/\s*\n ›\s+/g, ' ')
    assert.match(warning, /not a valid measurement: interrupted after .* not blessed/)
    assert.ok(!existsSync(path.join(home, 'bench', 'baselines', 'interrupted-runner.json')), 'not blessed')
    const gated = await runPoc(home, ['gate', '--in', out, '--profile', 'light', '--json'])
    assert.equal(gated.exitCode, 1)
    const verdict = parseJson<{checks: Array<{name: string; passed: boolean; message: string}>}>(gated)
    assert.equal(verdict.checks[0]?.name, 'valid_measurement')
    assert.equal(verdict.checks[0]?.passed, false)
  })

  it('marks a run whose generator missed its schedule invalid: unsent requests are not errors', async () => {
    // A server that answers one request per 50 ms on one connection cannot take 400/s.
    const slow = http.createServer((_req, res) => {
      setTimeout(() => res.end('{}'), 50)
    })
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
    const port = (slow.address() as AddressInfo).port
    try {
      const out = path.join(home, 'out', 'missed.json')
      const run = await execa(
        'node',
        [
          path.join(repoRoot, 'bin/run.js'),
          'bench',
          '--url',
          `http://127.0.0.1:${port}/`,
          '--rate',
          '400',
          '--duration',
          '2s',
          '--warmup',
          '0s',
          '--connections',
          '1',
          '--out',
          out,
          '--bless',
          '--json',
        ],
        {cwd: home, env: {POC_HOME: home, NO_COLOR: '1', RUNNER_LABEL: 'missed-runner'}, reject: false},
      )
      assert.equal(run.exitCode, 1, 'a refused --bless fails the command')
      const result = JSON.parse(readFileSync(out, 'utf8')) as BenchResult
      assertSchemaValid(result)
      const {http: h, summary} = result.metrics
      assert.ok(h.unsent > 400, `unsent ${h.unsent}`)
      assert.equal(h.errors, 0)
      assert.equal(h.status_counts['200'], h.requests, 'every request sent was answered')
      assert.equal(summary.error_rate_percent, 0)
      assert.equal(result.measurement?.valid, false)
      assert.equal(result.measurement?.interrupted, false)
      assert.ok((result.measurement?.schedule_miss_percent ?? 0) > 50)
      assert.ok(!existsSync(path.join(home, 'bench', 'baselines', 'missed-runner.json')), 'not blessed')
      const gated = await runPoc(home, ['gate', '--in', out, '--profile', 'light', '--json'])
      assert.equal(gated.exitCode, 1)
      assert.match(
        gated.stdout,
        /invalid measurement, not judged as an SLO miss: the generator missed its schedule/,
      )
    } finally {
      slow.close()
    }
  })

  it('refuses bad flags (exit 2) and a missing gateway (exit 3)', async () => {
    assert.equal((await runPoc(home, ['bench', '--profile', 'nope'])).exitCode, 2)
    assert.equal((await runPoc(home, ['bench', '--body', '{}'])).exitCode, 2)
    assert.equal((await runPoc(home, ['bench', '--url', 'not a url', '--rate', '10'])).exitCode, 2)
    const empty = makeHome('bench-empty')
    try {
      assert.equal((await runPoc(empty, ['bench', '--rate', '10', '--duration', '1s'])).exitCode, 3)
    } finally {
      rmSync(empty, {recursive: true, force: true})
    }
  })
})
