import assert from 'node:assert/strict'
import {cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {SmokeSessionResult} from '../../src/checks/smoke/loop.js'
import type {GrafanaCheckResult} from '../../src/checks/grafana/model.js'
import {metricNamesInExposition, readExporterRecords} from '../../src/checks/grafana/exported-metrics.js'
import {shippedFixtures} from '../../src/checks/grafana/fixtures.js'
import {serviceMetricFamilies} from '../../src/services/metric-families.js'
import {getComponent} from '../../src/stack/catalog.js'
import {componentContext} from '../../src/stack/context.js'
import {homeAt} from '../../src/stack/home.js'
import {metricsEndpoint} from '../../src/stack/prometheus-config.js'
import type {UpResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, runPoc, testPortOffsets} from '../helpers.js'

const offset = testPortOffsets.grafana

interface Target {
  labels: {job: string}
  health: string
  lastError: string
}

/** A real native stack with Prometheus: the services, RabbitMQ with rabbitmq_prometheus, Prometheus itself. */
describe('poc grafana check against a native stack with Prometheus', () => {
  let home: string
  let up: UpResult
  let prometheus: string

  before(async () => {
    home = makeHome('grafana')
    const run = await runPoc(home, [
      'up',
      '--with',
      'observability',
      '--port-offset',
      String(offset),
      '--json',
    ])
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    up = parseJson<UpResult>(run)
    prometheus = up.components.find((c) => c.name === 'prometheus')?.urls.http as string
  })

  after(async () => {
    await cleanup(home)
  })

  it('poc up --with observability returns with every Prometheus target healthy, RabbitMQ included', async () => {
    assert.equal(up.components.find((c) => c.name === 'prometheus')?.state, 'healthy')
    const answer = (await (await fetch(`${prometheus}/api/v1/targets?state=active`)).json()) as {
      data: {activeTargets: Target[]}
    }
    const targets = answer.data.activeTargets
    assert.deepEqual(targets.map((t) => t.labels.job).sort(), [
      'contract',
      'credit',
      'fi',
      'gateway',
      'invoice-worker',
      'pm',
      'prometheus',
      'rabbitmq',
      'sales',
      'ui',
    ])
    for (const t of targets) assert.equal(t.health, 'up', `${t.labels.job}: ${t.lastError}`)
  })

  it('every service exports exactly the families its in-process registry declares; RabbitMQ and Prometheus everything recorded of them', async () => {
    const stackHome = homeAt(home)
    for (const [service, families] of await serviceMetricFamilies()) {
      const ctx = componentContext(service, stackHome, offset)
      const text = await (await fetch(`http://${ctx.host}:${ctx.ports.http}/metrics`)).text()
      const live = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]).sort()
      assert.deepEqual(live, families.map((f) => f.name).sort(), service)
    }
    for (const record of await readExporterRecords(shippedFixtures)) {
      const spec = getComponent(record.component)
      const endpoint = metricsEndpoint(spec)
      assert.equal(endpoint?.path, record.endpoint, record.component)
      const ctx = componentContext(record.component, stackHome, offset)
      const text = await (
        await fetch(`http://${ctx.host}:${ctx.ports[endpoint?.port ?? '']}${record.endpoint}`)
      ).text()
      const live = new Set(metricNamesInExposition(text))
      const missing = record.metrics.filter((m) => !live.has(m))
      // A name a scrape shows only once its first event happened (a dead-lettered message) may be absent now.
      assert.ok(
        missing.length <= record.metrics.length / 20,
        `${record.component} no longer exports ${missing.join(', ')}`,
      )
    }
  })

  it('smoke passes with scenario 13 running the offline and the Prometheus checks: every metrics panel has data', async () => {
    const run = await runPoc(home, ['smoke', '--json'])
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    const result = parseJson<SmokeSessionResult>(run)
    const grafana = result.last.scenarios.find((s) => s.number === 13)
    assert.equal(grafana?.status, 'passed', grafana?.reason)
    const {panelsQueriedLive, panelsWithLiveData} = grafana?.metrics ?? {}
    assert.ok((panelsQueriedLive ?? 0) >= 20, `only ${panelsQueriedLive} panels were queried`)
    assert.equal(panelsWithLiveData, panelsQueriedLive)
    assert.match(
      grafana?.summary ?? '',
      /^5 dashboards consistent offline; (\d+) of \1 metrics panels with data in Prometheus$/,
    )
  })

  it('poc grafana check finds the stack’s Prometheus by itself and every metrics panel returns data after that traffic', async () => {
    const run = await runPoc(home, ['grafana', 'check', '--json'])
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    const result = parseJson<GrafanaCheckResult>(run)
    assert.equal(result.status, 'passed')
    assert.equal(result.prometheus?.url, prometheus)
    assert.match(result.prometheus?.version ?? '', /^\d+\.\d+/)
    assert.deepEqual(
      result.checks.filter((c) => c.phase === 'prometheus').map((c) => `${c.id} ${c.status}`),
      ['targets passed', 'rules passed', 'panels-have-data passed'],
    )
    assert.equal(result.counts.queriedLive, result.counts.prometheusPanels)
    assert.equal(result.counts.withLiveData, result.counts.prometheusPanels)
    const human = await runPoc(home, ['grafana', 'check'])
    assert.match(
      human.stdout,
      new RegExp(
        `^verified: Prometheus .* at ${prometheus}: targets, rules, and \\d+ metrics panels queried live`,
        'm',
      ),
    )
    assert.match(human.stdout, /^not verified: Grafana itself was not asked/m)
  })

  it('fails, naming the panel, on a panel that has no data in this Prometheus although its metric exists', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'poc-grafana-nodata-'))
    try {
      for (const sub of ['grafana', 'prometheus', 'promtail'])
        cpSync(path.join(shippedFixtures, sub), path.join(dir, sub), {recursive: true})
      const file = path.join(dir, 'grafana/dashboards/hft-fast-path.json')
      const dashboard = readFileSync(file, 'utf8').replace(
        'sum by (status) (rate(gateway_order_requests_total[$__rate_interval]))',
        // A status the gateway never answers: the metric exists, this series never will.
        'sum by (status) (rate(gateway_order_requests_total{status=\\"599\\"}[$__rate_interval]))',
      )
      writeFileSync(file, dashboard)
      const run = await runPoc(home, ['grafana', 'check', '--fixtures', dir, '--prometheus-url', prometheus])
      assert.equal(run.exitCode, 1, run.stdout + run.stderr)
      assert.match(
        run.stdout,
        /^✗ HFT Fast Path \(hft-fast-path\) › panel 6 "POST \/orders answers by status" › query A: No data: sum by \(status\) \(rate\(gateway_order_requests_total\{status="599"\}\[20s\]\)\) returned no series over the last 5 min$/m,
      )
      assert.match(run.stdout, /^offline +every metric a panel queries is exported +\d+ +passed$/m)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
