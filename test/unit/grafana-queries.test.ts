import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {judgeAlerts, judgeDashboards, judgeRule} from '../../src/checks/grafana/grafana-live.js'
import {closest, readLogql, readPromql, substituteVariables} from '../../src/checks/grafana/queries.js'
import {seriesNames, metricNamesInExposition} from '../../src/checks/grafana/exported-metrics.js'

const intervals = {interval: '15s', rateInterval: '20s', range: '300s'}

describe('panel queries', () => {
  it("substitutes Grafana's interval variables and the dashboard's own, and names the unknown ones", () => {
    assert.deepEqual(substituteVariables('rate(x[$__rate_interval]) + increase(y[${__range}])', intervals), {
      query: 'rate(x[20s]) + increase(y[300s])',
      unknown: [],
    })
    assert.deepEqual(
      substituteVariables('up{job="$job"} * [[scale]] + $nope', intervals, {job: 'pm', scale: '2'}),
      {
        query: 'up{job="pm"} * 2 + $nope',
        unknown: ['nope'],
      },
    )
  })

  it('reads the metric names of every selector of a PromQL query, __name__ matchers included', () => {
    assert.deepEqual(
      readPromql(
        'histogram_quantile(0.99, sum by (le) (rate(poc_invoice_latency_seconds_bucket[5m]))) / on() group_left max({__name__="up"}) or vector(0)',
      ),
      {errors: [], metrics: ['poc_invoice_latency_seconds_bucket', 'up']},
    )
    const broken = readPromql('sum(rate(x[5m])')
    assert.equal(broken.errors.length, 1)
    assert.equal(broken.errors[0]?.column, 16)
  })

  it('reads the stream selectors of a LogQL query, in metric queries too', () => {
    assert.deepEqual(
      readLogql('sum by (event) (count_over_time({job="poc-telemetry", event=~"mock_.*"} | json [5m]))'),
      {
        errors: [],
        selectors: [
          [
            {label: 'job', op: '=', value: 'poc-telemetry'},
            {label: 'event', op: '=~', value: 'mock_.*'},
          ],
        ],
      },
    )
    assert.ok(readLogql('{app="pm" |= }').errors.length > 0)
  })

  it('suggests the metric a renamed or mistyped name probably meant, and nothing for a stranger', () => {
    const names = [
      'gateway_fast_path_processing_p99_us',
      'gateway_fdatasync_p99_us',
      'poc_http_requests_total',
    ]
    assert.equal(closest('gateway_fast_path_p99_us', names), 'gateway_fast_path_processing_p99_us')
    assert.equal(closest('poc_http_request_total', names), 'poc_http_requests_total')
    assert.equal(closest('node_cpu_seconds_total', names), undefined)
  })

  it('knows the series names a family exposes, from a registry or from a scrape', () => {
    assert.deepEqual(seriesNames({name: 'h', type: 'histogram'}), ['h_bucket', 'h_sum', 'h_count'])
    assert.deepEqual(seriesNames({name: 's', type: 'summary'}), ['s', 's_sum', 's_count'])
    const scrape = [
      '# HELP rabbitmq_queue_messages Sum of ready and unacknowledged messages',
      '# TYPE rabbitmq_queue_messages gauge',
      'rabbitmq_queue_messages{vhost="/",queue="shard.0"} 0',
      '# TYPE prometheus_http_request_duration_seconds histogram',
      'erlang_vm_dist_recv_bytes 12',
    ].join('\n')
    assert.deepEqual(metricNamesInExposition(scrape), [
      'erlang_vm_dist_recv_bytes',
      'prometheus_http_request_duration_seconds_bucket',
      'prometheus_http_request_duration_seconds_count',
      'prometheus_http_request_duration_seconds_sum',
      'rabbitmq_queue_messages',
    ])
  })
})

/**
 * Grafana's answers as its HTTP API documentation shows them (no Grafana can run here): these
 * are the judgements --live makes on them.
 */
describe("poc grafana check --live: Grafana's answers", () => {
  const manifest = [
    {title: 'PoC Metrics Overview', uid: 'poc-metrics', file: 'dashboards/poc-metrics.json'},
    {title: 'HFT Fast Path', uid: 'hft-fast-path', file: 'dashboards/hft-fast-path.json'},
  ]

  it('/api/search?type=dash-db: every manifest dashboard, with its title, in the Poc Dashboards folder', () => {
    const hits = [
      {
        id: 1,
        uid: 'poc-metrics',
        title: 'PoC Metrics Overview',
        type: 'dash-db',
        folderTitle: 'Poc Dashboards',
        url: '/d/poc-metrics/poc-metrics-overview',
      },
      {
        id: 2,
        uid: 'hft-fast-path',
        title: 'HFT Fast Path (old)',
        type: 'dash-db',
        folderTitle: 'Poc Dashboards',
      },
    ]
    assert.deepEqual(judgeDashboards(manifest, hits).failures, [
      {
        subject: 'dashboard "HFT Fast Path" (hft-fast-path)',
        message: 'is titled "HFT Fast Path (old)" in Grafana',
      },
    ])
    assert.equal(
      judgeDashboards(manifest, hits.slice(0, 1)).failures[0]?.message.startsWith('is not in Grafana'),
      true,
    )
    assert.equal(
      judgeDashboards(manifest.slice(0, 1), [{...hits[0], folderTitle: 'General'}]).failures[0]?.message,
      'is in the folder "General", not "Poc Dashboards"',
    )
    assert.equal(judgeDashboards(manifest.slice(0, 1), hits).status, 'passed')
  })

  it('/api/ruler/grafana/api/v1/rules: the rule, by uid, in its group', () => {
    const ruler = {
      'PoC Alerts': [
        {
          name: 'poc-telemetry',
          interval: '1m',
          rules: [
            {
              expr: '',
              for: '5m',
              labels: {severity: 'warning'},
              grafana_alert: {uid: 'telemetry-fallback', title: 'TelemetryFallbackSpike', condition: 'C'},
            },
          ],
        },
      ],
    }
    assert.equal(judgeRule(ruler).status, 'passed')
    assert.match(judgeRule({}).failures[0]?.message ?? '', /^is not in Grafana/)
  })

  it('/api/alertmanager/grafana/api/v2/alerts: an active alert of the rule is a failure; other alerts are not', () => {
    const other = {labels: {alertname: 'Other', __alert_rule_uid__: 'x'}, status: {state: 'active'}}
    const suppressed = {
      labels: {alertname: 'TelemetryFallbackSpike', __alert_rule_uid__: 'telemetry-fallback'},
      status: {state: 'suppressed'},
    }
    assert.equal(judgeAlerts([other, suppressed]).status, 'passed')
    const firing = {...suppressed, status: {state: 'active'}, startsAt: '2026-12-01T09:00:00Z'}
    assert.match(
      judgeAlerts([other, firing]).failures[0]?.message ?? '',
      /^has been firing since 2026-12-01T09:00:00Z/,
    )
  })
})
