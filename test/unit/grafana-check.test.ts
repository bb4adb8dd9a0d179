import assert from 'node:assert/strict'
import {cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {createServer} from 'node:net'
import {after, describe, it} from 'node:test'
import {grafanaCheck} from '../../src/checks/grafana/check.js'
import {shippedFixtures} from '../../src/checks/grafana/fixtures.js'
import type {CheckOutcome, GrafanaCheckResult} from '../../src/checks/grafana/model.js'
import {findBinary} from '../../src/stack/native.js'
import {homeAt} from '../../src/stack/home.js'
import {parseJson, runPoc} from '../helpers.js'

const temps: string[] = []
after(() => {
  for (const dir of temps) rmSync(dir, {recursive: true, force: true})
})

/** A copy of the shipped fixtures that a test breaks in one place. */
function fixturesCopy(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'poc-grafana-fixtures-'))
  temps.push(dir)
  for (const sub of ['grafana', 'prometheus', 'promtail'])
    cpSync(path.join(shippedFixtures, sub), path.join(dir, sub), {recursive: true})
  return dir
}

/** A home where no stack runs: the check stays offline unless told otherwise. */
const home = homeAt(mkdtempSync(path.join(os.tmpdir(), 'poc-grafana-home-')))
temps.push(home.root)

function edit(dir: string, file: string, change: (text: string) => string): void {
  const full = path.join(dir, file)
  writeFileSync(full, change(readFileSync(full, 'utf8')))
}

function editJson<T>(dir: string, file: string, change: (json: T) => void): void {
  const full = path.join(dir, file)
  const json = JSON.parse(readFileSync(full, 'utf8')) as T
  change(json)
  writeFileSync(full, JSON.stringify(json, null, 2))
}

interface DashboardJson {
  uid: string
  title: string
  panels: Array<{
    id: number
    title: string
    datasource: {uid: string; type: string}
    targets: Array<{expr: string; datasource: {uid: string}}>
  }>
}

function failed(result: GrafanaCheckResult): CheckOutcome[] {
  return result.checks.filter((c) => c.status === 'failed')
}

/** The one check that failed, with its failures; every other check passed. */
function onlyFailure(result: GrafanaCheckResult, id: string): CheckOutcome {
  assert.equal(result.status, 'failed')
  assert.deepEqual(
    failed(result).map((c) => c.id),
    [id],
    JSON.stringify(failed(result), null, 2),
  )
  return failed(result)[0] as CheckOutcome
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

const check = (fixturesDir: string) => grafanaCheck({home, fixturesDir, offline: true})

describe('poc grafana check, offline', () => {
  it('passes on the shipped files: the dashboards of SPEC §6.3 and the event backbone, provisioning, the alert rule', async () => {
    const result = await grafanaCheck({home, offline: true})
    assert.equal(result.status, 'passed', JSON.stringify(failed(result), null, 2))
    const manifest = JSON.parse(
      readFileSync(path.join(shippedFixtures, 'grafana', 'manifest.json'), 'utf8'),
    ) as {
      dashboards: Array<{title: string; uid: string}>
    }
    assert.deepEqual(
      manifest.dashboards.map((d) => `${d.uid} ${d.title}`),
      [
        'poc-metrics PoC Metrics Overview',
        'poc-logs PoC Logs Explorer',
        'poc-telemetry PoC UI Telemetry',
        'hft-fast-path HFT Fast Path',
        'poc-backbone PoC Event Backbone',
      ],
    )
    assert.equal(result.counts.dashboards, 5)
    assert.ok(
      result.counts.prometheusPanels >= 20 && result.counts.lokiPanels >= 5,
      JSON.stringify(result.counts),
    )
    assert.deepEqual(
      result.checks.map((c) => c.id),
      [
        'manifest',
        'unlisted',
        'unique',
        'provisioning',
        'datasources',
        'panel-ids',
        'promql',
        'metrics',
        'logql',
        'alert-rule',
      ],
    )
    // Honest about what an offline run did not do.
    assert.ok(result.notVerified.some((n) => /no Prometheus was queried/.test(n)))
    assert.ok(result.notVerified.some((n) => /not run against Loki/.test(n)))
  })

  it('fails on a renamed metric, naming the panel, the query and the metric it probably meant', async () => {
    const dir = fixturesCopy()
    edit(dir, 'grafana/dashboards/hft-fast-path.json', (t) =>
      t.replace('max(gateway_fast_path_processing_p99_us)', 'max(gateway_fast_path_p99_us)'),
    )
    const c = onlyFailure(await check(dir), 'metrics')
    assert.deepEqual(c.failures, [
      {
        subject: 'HFT Fast Path (hft-fast-path) › panel 1 "Fast-path processing latency" › query B',
        message:
          'queries gateway_fast_path_p99_us, which no component of the catalog exports (did you mean gateway_fast_path_processing_p99_us, exported by gateway?)',
      },
    ])
  })

  it('fails on a manifest entry whose file is missing', async () => {
    const dir = fixturesCopy()
    unlinkSync(path.join(dir, 'grafana/dashboards/poc-logs.json'))
    const c = onlyFailure(await check(dir), 'manifest')
    assert.equal(c.failures.length, 1)
    assert.equal(c.failures[0]?.subject, 'manifest entry "PoC Logs Explorer" (poc-logs)')
    assert.match(c.failures[0]?.message ?? '', /grafana\/dashboards\/poc-logs\.json does not exist/)
  })

  it('fails on a duplicate uid, in the manifest and among the files', async () => {
    const dir = fixturesCopy()
    editJson<DashboardJson>(dir, 'grafana/dashboards/poc-backbone.json', (d) => (d.uid = 'poc-metrics'))
    editJson<{dashboards: Array<{uid: string; file: string}>}>(dir, 'grafana/manifest.json', (m) => {
      for (const e of m.dashboards) if (e.file.endsWith('poc-backbone.json')) e.uid = 'poc-metrics'
    })
    const c = onlyFailure(await check(dir), 'unique')
    assert.deepEqual(
      c.failures.map((f) => `${f.subject}: ${f.message}`),
      [
        'uid "poc-metrics": is used by 2 manifest entries',
        'uid "poc-metrics": is the uid of grafana/dashboards/poc-backbone.json and grafana/dashboards/poc-metrics.json: Grafana keeps only one of them',
      ],
    )
  })

  it('fails on a panel whose datasource is not provisioned', async () => {
    const dir = fixturesCopy()
    editJson<DashboardJson>(dir, 'grafana/dashboards/poc-metrics.json', (d) => {
      const panel = d.panels[1] as DashboardJson['panels'][number]
      panel.datasource.uid = 'prometheus-old'
      for (const t of panel.targets) t.datasource.uid = 'prometheus-old'
    })
    const result = await check(dir)
    const c = onlyFailure(result, 'datasources')
    assert.deepEqual(c.failures, [
      {
        subject: 'PoC Metrics Overview (poc-metrics) › panel 2 "HTTP requests per second" › query A',
        message:
          'names datasource "prometheus-old", which grafana/provisioning/datasources does not provision (provisioned: prometheus, poc-loki)',
      },
    ])
  })

  it('fails on a dashboard file missing from the manifest, and on a title that does not match', async () => {
    const dir = fixturesCopy()
    cpSync(
      path.join(dir, 'grafana/dashboards/poc-logs.json'),
      path.join(dir, 'grafana/dashboards/poc-logs-copy.json'),
    )
    editJson<DashboardJson>(dir, 'grafana/dashboards/poc-logs-copy.json', (d) => {
      d.uid = 'poc-logs-copy'
      d.title = 'PoC Logs Copy'
    })
    editJson<DashboardJson>(dir, 'grafana/dashboards/poc-telemetry.json', (d) => (d.title = 'UI Telemetry'))
    const result = await check(dir)
    assert.deepEqual(
      failed(result).map((c) => c.id),
      ['manifest', 'unlisted'],
    )
    const byId = new Map(result.checks.map((c) => [c.id, c]))
    assert.deepEqual(byId.get('unlisted')?.failures, [
      {
        subject: 'grafana/dashboards/poc-logs-copy.json',
        message: 'is provisioned by Grafana but missing from grafana/manifest.json',
      },
    ])
    assert.equal(
      byId.get('manifest')?.failures[0]?.message,
      'grafana/dashboards/poc-telemetry.json is titled "UI Telemetry", not "PoC UI Telemetry"',
    )
  })

  it('fails on a dashboard that is not JSON, and on duplicate panel ids', async () => {
    const dir = fixturesCopy()
    edit(dir, 'grafana/dashboards/poc-telemetry.json', (t) => t.slice(0, 200))
    editJson<DashboardJson>(dir, 'grafana/dashboards/hft-fast-path.json', (d) => {
      ;(d.panels[3] as {id: number}).id = 1
    })
    const result = await check(dir)
    const byId = new Map(result.checks.map((c) => [c.id, c]))
    assert.match(byId.get('manifest')?.failures[0]?.message ?? '', /poc-telemetry\.json is not valid JSON/)
    assert.deepEqual(byId.get('panel-ids')?.failures, [
      {
        subject: 'HFT Fast Path (hft-fast-path)',
        message: 'panel id 1 is used by "Fast-path processing latency" and "fdatasync"',
      },
    ])
  })

  it('fails on PromQL that does not parse, and on PromQL that Prometheus itself refuses', async () => {
    const dir = fixturesCopy()
    editJson<DashboardJson>(dir, 'grafana/dashboards/poc-backbone.json', (d) => {
      ;(d.panels[0]?.targets[0] as {expr: string}).expr =
        'sum by (queue) (rabbitmq_queue_messages_ready{queue=~"shard.*"}'
      ;(d.panels[3]?.targets[0] as {expr: string}).expr = 'rate(rabbitmq_queue_messages)'
      ;(d.panels[5]?.targets[0] as {expr: string}).expr = 'sum($queue_metric)'
    })
    const c = onlyFailure(await check(dir), 'promql')
    const messages = c.failures.map((f) => `${f.subject}: ${f.message}`)
    assert.match(
      messages[0] ?? '',
      /panel 1 "Shard queue depth" › query A: PromQL syntax error at column \d+/,
    )
    assert.match(
      messages[1] ?? '',
      /panel 6 "Unacknowledged on shards" › query A: uses \$queue_metric, which the dashboard does not define/,
    )
    if (
      findBinary({
        name: 'promtool',
        candidates: ['/usr/bin/promtool'],
        debianPackage: 'prometheus',
        searchPath: true,
      })
    ) {
      assert.match(
        messages[2] ?? '',
        /panel 4 "Inbox depth" › query A: Prometheus' parser \(promtool\): .*expected type range vector in call to function "rate", got instant vector/,
      )
      assert.match(c.note ?? '', /Prometheus' own parser/)
    }
  })

  it('fails the alert rule when Promtail does not set the event label it selects (the seed never could fire)', async () => {
    const dir = fixturesCopy()
    edit(dir, 'promtail/promtail-config.yaml', (t) => t.replace(/\n {10}event:\n/, '\n'))
    const result = await check(dir)
    assert.deepEqual(
      failed(result).map((c) => c.id),
      ['logql', 'alert-rule'],
    )
    const rule = result.checks.find((c) => c.id === 'alert-rule')
    assert.equal(
      rule?.failures[0]?.subject,
      'alert rule TelemetryFallbackSpike (telemetry-fallback) › query A',
    )
    assert.match(
      rule?.failures[0]?.message ?? '',
      /^selects the label event, which Promtail never sets on job="poc-telemetry" \(it sets component, filename, job, level, origin\), so the query can never match$/,
    )
  })

  it('fails when the alert rule is not provisioned, or differs from SPEC §6.3', async () => {
    const dir = fixturesCopy()
    edit(dir, 'grafana/provisioning/alerting/poc-telemetry.yaml', (t) => t.replace('for: 5m', 'for: 1m'))
    let c = onlyFailure(await check(dir), 'alert-rule')
    assert.equal(c.failures[0]?.message, 'its pending period (for) is "1m", expected "5m"')
    edit(dir, 'grafana/provisioning/alerting/poc-telemetry.yaml', (t) =>
      t.replace('uid: telemetry-fallback', 'uid: other'),
    )
    c = onlyFailure(await check(dir), 'alert-rule')
    assert.deepEqual(c.failures, [
      {
        subject: 'alert rule TelemetryFallbackSpike (telemetry-fallback)',
        message: 'is not provisioned in grafana/provisioning/alerting',
      },
    ])
  })

  it('fails on LogQL that does not parse or selects a job Promtail does not ship', async () => {
    const dir = fixturesCopy()
    edit(dir, 'grafana/dashboards/poc-logs.json', (t) =>
      t
        .replace('"{job=\\"poc-smoke\\"}"', '"{job=\\"smoke\\"}"')
        .replace('"{app=\\"pm\\"}"', '"{app=\\"pm\\" |= }"'),
    )
    const c = onlyFailure(await check(dir), 'logql')
    assert.deepEqual(
      c.failures.map((f) => f.message.replace(/ near .*/, '')),
      ['LogQL syntax error at column 11', 'selects job="smoke", which no Promtail job ships'],
    )
  })
})

describe('poc grafana check, the command', () => {
  it('exits 0 on the shipped files with the table, and 1 naming the panel and the cause on a broken copy', async () => {
    const ok = await runPoc(home.root, ['grafana', 'check', '--offline'])
    assert.equal(ok.exitCode, 0, ok.stdout + ok.stderr)
    assert.match(ok.stdout, /^PHASE +CHECK +CHECKED +RESULT$/m)
    assert.match(ok.stdout, /^offline +every metric a panel queries is exported +\d+ +passed$/m)
    assert.match(ok.stdout, /^not verified: no Prometheus was queried/m)
    assert.match(ok.stdout, /Grafana check passed: 5 dashboards, \d+ panels\.$/m)

    const dir = fixturesCopy()
    edit(dir, 'grafana/dashboards/hft-fast-path.json', (t) =>
      t.replaceAll('gateway_queue_len', 'gateway_queue_length'),
    )
    const broken = await runPoc(home.root, ['grafana', 'check', '--offline', '--fixtures', dir])
    assert.equal(broken.exitCode, 1, broken.stdout + broken.stderr)
    assert.match(
      broken.stdout,
      /^✗ HFT Fast Path \(hft-fast-path\) › panel 7 "Queue and in-flight" › query A: queries gateway_queue_length, which no component of the catalog exports \(did you mean gateway_queue_len, exported by gateway\?\)$/m,
    )
    assert.match(broken.stdout, /Grafana check failed: 1 problem\(s\)\.$/m)
  })

  it('--json prints only the result; a Prometheus that cannot be reached exits 3', async () => {
    const port = await closedPort()
    const url = `http://127.0.0.1:${port}`
    const run = await runPoc(home.root, ['grafana', 'check', '--prometheus-url', url, '--json'])
    assert.equal(run.exitCode, 3, run.stdout + run.stderr)
    const result = parseJson<GrafanaCheckResult>(run)
    assert.equal(result.status, 'unavailable')
    assert.equal(result.prometheus?.reachable, false)
    assert.match(
      result.prometheus?.error ?? '',
      new RegExp(`GET ${url}/api/v1/status/buildinfo: .*ECONNREFUSED`),
    )
    // The offline checks still ran and are reported.
    assert.ok(result.checks.filter((c) => c.phase === 'offline').every((c) => c.status === 'passed'))
  })

  it('--live without a Grafana URL, when the stack runs none, exits 3 and says why', async () => {
    const run = await runPoc(home.root, ['grafana', 'check', '--live'])
    assert.equal(run.exitCode, 3, run.stdout + run.stderr)
    assert.match(run.stdout, /unreachable: no Grafana: pass --grafana-url/)
  })
})
