import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {execa} from 'execa'
import {parse as parseYaml} from 'yaml'
import {serviceMetricFamilies} from '../../src/services/metric-families.js'
import {catalog, getComponent, rabbitmqPlugins} from '../../src/stack/catalog.js'
import {componentContext} from '../../src/stack/context.js'
import {homeAt} from '../../src/stack/home.js'
import {findBinary} from '../../src/stack/native.js'
import {grafanaFiles, lokiFiles, promtailFiles} from '../../src/stack/observability-files.js'
import {scrapeTargets, targetsNotUp, writePrometheusFiles} from '../../src/stack/prometheus-config.js'
import {repoRoot} from '../helpers.js'

const promtool = findBinary({
  name: 'promtool',
  candidates: ['/usr/bin/promtool'],
  debianPackage: 'prometheus',
  searchPath: true,
})
const needsPromtool = promtool
  ? {}
  : {skip: 'promtool is not installed (Debian package prometheus; npm run setup)'}

const dir = mkdtempSync(path.join(os.tmpdir(), 'poc-prometheus-config-'))
after(() => rmSync(dir, {recursive: true, force: true}))

describe('Prometheus configuration', () => {
  const home = homeAt(dir)
  const targets = scrapeTargets(catalog, (name, port) => {
    const ctx = componentContext(name, home, 5500)
    return `${ctx.host}:${ctx.ports[port]}`
  })

  it('scrapes every service, RabbitMQ per object on its rabbitmq_prometheus port, and Prometheus itself', () => {
    assert.deepEqual(
      targets.map((t) => `${t.job} ${t.address}${t.metricsPath}`),
      [
        'rabbitmq 127.0.0.1:21192/metrics/per-object',
        'prometheus 127.0.0.1:14590/metrics',
        'pm 127.0.0.1:8501/metrics',
        'fi 127.0.0.1:8502/metrics',
        'sales 127.0.0.1:8503/metrics',
        'credit 127.0.0.1:8504/metrics',
        'contract 127.0.0.1:8506/metrics',
        'invoice-worker 127.0.0.1:8507/metrics',
        'gateway 127.0.0.1:13581/metrics',
        'ui 127.0.0.1:9500/metrics',
      ],
    )
    assert.deepEqual(rabbitmqPlugins, ['rabbitmq_management', 'rabbitmq_prometheus'])
  })

  it('starts Prometheus after everything it scrapes, and calls it ready once every target is up', () => {
    assert.deepEqual(
      [...getComponent('prometheus').dependsOn].sort(),
      targets
        .map((t) => t.job)
        .filter((j) => j !== 'prometheus')
        .sort(),
    )
    assert.equal(targetsNotUp({data: {activeTargets: []}}), 'no scrape target yet')
    assert.equal(
      targetsNotUp({
        data: {
          activeTargets: [
            {labels: {job: 'pm'}, health: 'up'},
            {labels: {job: 'rabbitmq'}, health: 'down', lastError: 'connection refused'},
          ],
        },
      }),
      'targets not up yet: rabbitmq (down: connection refused)',
    )
    assert.equal(targetsNotUp({data: {activeTargets: [{labels: {job: 'pm'}, health: 'up'}]}}), undefined)
  })

  it('writes a config and rules that promtool check config accepts', needsPromtool, async () => {
    const file = await writePrometheusFiles(path.join(dir, 'prometheus'), targets)
    const result = await execa(promtool as string, ['check', 'config', file], {reject: false, all: true})
    assert.equal(result.exitCode, 0, result.all)
    assert.match(result.all ?? '', /SUCCESS: 9 rules found/)
  })

  it(
    'has SLO rules that fire on the series that break them (promtool test rules)',
    needsPromtool,
    async () => {
      const result = await execa(promtool as string, ['test', 'rules', 'poc-slo.test.yml'], {
        cwd: path.join(repoRoot, 'fixtures', 'prometheus', 'tests'),
        reject: false,
        all: true,
      })
      assert.equal(result.exitCode, 0, result.all)
      assert.match(result.all ?? '', /SUCCESS/)
    },
  )
})

describe('what the observability containers mount', () => {
  const home = homeAt(dir)
  const addresses = {prometheusUrl: 'http://prometheus:9090', lokiUrl: 'http://loki:3100'}

  it('mounts files that exist, where the provisioning and the configs expect them', () => {
    const all = [grafanaFiles(addresses), lokiFiles(), promtailFiles(home, addresses)]
    for (const {source} of all.flatMap((f) => f.mounts).filter((m) => m.source.startsWith(repoRoot)))
      assert.ok(existsSync(source), source)
    const provider = parseYaml(
      readFileSync(path.join(repoRoot, 'fixtures/grafana/provisioning/dashboards/poc.yaml'), 'utf8'),
    ) as {providers: Array<{options: {path: string}}>}
    assert.ok(
      grafanaFiles(addresses).mounts.some((m) => m.target === provider.providers[0]?.options.path),
      'the dashboards are mounted where the provider reads them',
    )
    const datasources = readFileSync(
      path.join(repoRoot, 'fixtures/grafana/provisioning/datasources/poc.yaml'),
      'utf8',
    )
    for (const name of Object.keys(grafanaFiles(addresses).env))
      assert.ok(datasources.includes(`\${${name}}`), name)
    const promtail = readFileSync(path.join(repoRoot, 'fixtures/promtail/promtail-config.yaml'), 'utf8')
    assert.ok(promtail.includes('${POC_LOKI_PUSH_URL}'))
    assert.equal(promtailFiles(home, addresses).env.POC_LOKI_PUSH_URL, 'http://loki:3100/loki/api/v1/push')
  })
})

describe("our services' metrics, built in-process", () => {
  it('has a registry for every service of the catalog, built with the functions their mains use', async () => {
    const families = await serviceMetricFamilies()
    const services = catalog.filter((c) => c.kind === 'service').map((c) => c.name)
    assert.deepEqual([...families.keys()].sort(), [...services].sort())
    const names = (service: string) => new Set((families.get(service as never) ?? []).map((f) => f.name))
    for (const service of services) {
      assert.ok(names(service).has('poc_http_requests_total'), service)
      assert.ok(names(service).has('poc_process_resident_memory_bytes'), service)
      // The gateway has its own outbox; the ui is on no bus.
      assert.equal(names(service).has('poc_bus_outbox_depth'), !['gateway', 'ui'].includes(service), service)
    }
    assert.ok(names('gateway').has('gateway_fast_path_processing_p99_us'))
    assert.ok(names('invoice-worker').has('poc_invoice_latency_seconds'))
    assert.ok(names('credit').has('poc_credit_decisions_total'))
    assert.ok(names('ui').has('poc_ui_pm_reachable'))
  })
})
