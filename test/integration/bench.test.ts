import assert from 'node:assert/strict'
import {existsSync, readFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {execa} from 'execa'
import type {BenchResult} from '../../src/checks/bench/result.js'
import {validateBench} from '../../src/checks/gate.js'
import type {BenchCommandResult} from '../../src/commands/bench.js'
import {cleanup, makeHome, parseJson, repoRoot, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.bench
/** The schema check poc gate makes (ajv over fixtures/schemas/bench.v1.schema.json). */
function assertSchemaValid(result: unknown): void {
  const validation = validateBench(result)
  assert.ok(validation.ok, JSON.stringify(validation.ok ? undefined : validation.errors))
}

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
        '1s',
        '--warmup',
        '0s',
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
    assert.equal(result.metrics.http.status_counts['200'], 200)
    assert.equal(result.environment.runner_label, 'test-runner')
    assert.ok(existsSync(path.join(home, 'bench', 'baselines', 'test-runner.json')))
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
