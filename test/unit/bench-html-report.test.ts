import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {renderHtmlReport} from '../../src/checks/bench/html-report.js'
import type {BenchResult} from '../../src/contract/bench.js'
import {repoRoot} from '../helpers.js'

function sample(): BenchResult {
  return JSON.parse(
    readFileSync(path.join(repoRoot, 'fixtures/bench/sample-result.json'), 'utf8'),
  ) as BenchResult
}

function seriesMarkup(html: string, series: 'corrected' | 'raw'): string {
  const match = new RegExp(`<g class="series" data-series="${series}">([\\s\\S]*?)</g>`).exec(html)
  assert.ok(match, `no ${series} series`)
  return match[1] ?? ''
}

function points(markup: string): Array<{cx: number; percentile: number; latencyUs: number}> {
  return [...markup.matchAll(/<circle class="point" cx="([\d.]+)" cy="[\d.]+" r="[\d.]+" ([^>]*)>/g)].map(
    (m) => ({
      cx: Number(m[1]),
      percentile: Number(/data-percentile="([^"]*)"/.exec(m[2] ?? '')?.[1]),
      latencyUs: Number(/data-latency-us="([^"]*)"/.exec(m[2] ?? '')?.[1]),
    }),
  )
}

const hostile = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`

describe('bench HTML report', () => {
  it('is one document that loads nothing: no script, stylesheet link, remote source or url()', () => {
    const html = renderHtmlReport(sample())
    assert.match(html, /^<!doctype html>/)
    assert.equal(html.match(/<html\b/g)?.length, 1)
    assert.doesNotMatch(html, /<script\b/i)
    assert.doesNotMatch(html, /<link\b/i)
    assert.doesNotMatch(html, /\s(src|href|srcset|action|poster)\s*=/i)
    assert.doesNotMatch(html, /url\(|@import/i)
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/)
  })

  it('shows the header and headline numbers of the result', () => {
    const html = renderHtmlReport(sample())
    for (const text of [
      'http://127.0.0.1:8081/orders',
      '2026-11-23T04:00:00.000Z',
      'v20.20.0',
      '<td>steady</td>',
      '<dt>Connections</dt><dd>64</dd>',
      '1,000 /s of 1,000 /s target',
      '<td>202</td><td class="n">30,000</td>',
    ]) {
      assert.ok(html.includes(text), `missing ${text}`)
    }
  })

  it('escapes every string of the result: target, labels, phase names, status keys, SLO messages', () => {
    const result = sample()
    result.profile.target = hostile
    result.profile.name = hostile
    result.environment.runner_label = hostile
    result.environment.cpu_model = hostile
    result.profile.phases[0]!.name = hostile
    result.profile.keys = {[hostile]: 1}
    result.metrics.http.status_counts = {[hostile]: 3}
    result.metrics.http.error_causes = {[hostile]: 3}
    result.slo_compliance = {
      status: 'FAIL',
      profile: 'strict',
      checks: [
        {
          name: hostile,
          metric: hostile,
          operator: '<=',
          threshold: 100,
          actual: null,
          passed: false,
          severity: 'error',
          message: hostile,
        },
      ],
      baseline_comparison: null,
    }
    const html = renderHtmlReport(result)
    assert.doesNotMatch(html, /<script\b/i)
    assert.doesNotMatch(html, /<img\b/i)
    assert.doesNotMatch(html, /"'>/)
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x'))
    assert.ok(html.split('&lt;script&gt;alert(1)').length - 1 >= 10, 'every hostile field is shown, escaped')
  })

  it('draws one circle per curve point in each of the two series, with the data on the circle', () => {
    const result = sample()
    const html = renderHtmlReport(result)
    const curve = result.metrics.http.percentile_curve
    assert.equal(html.match(/<g class="series"/g)?.length, 2)
    for (const [series, key] of [
      ['corrected', 'corrected_us'],
      ['raw', 'raw_us'],
    ] as const) {
      const drawn = points(seriesMarkup(html, series))
      assert.deepEqual(
        drawn.map((p) => [p.percentile, p.latencyUs]),
        curve.map((p) => [p.percentile, p[key]]),
        series,
      )
    }
    assert.match(html, /<svg id="latency-plot" role="img" aria-label="[^"]+"/)
    assert.equal(
      html.match(/<tr><td class="n">/g)?.length,
      curve.length,
      'the data table has a row per point',
    )
  })

  it('places percentiles on the nines scale: 90, 99 and 99.9 equally spaced, 100 at the right end', () => {
    const drawn = points(seriesMarkup(renderHtmlReport(sample()), 'corrected'))
    const x = (percentile: number) => drawn.find((p) => p.percentile === percentile)!.cx
    const decade = x(99) - x(90)
    assert.ok(decade > 0)
    assert.ok(Math.abs(x(90) - x(0) - decade) < 0.2)
    assert.ok(Math.abs(x(99.9) - x(99) - decade) < 0.2)
    assert.ok(x(50) > x(0) && x(50) < x(75) && x(75) < x(90))
    // Ticks go to 99.99 and the maximum sits one decade further.
    assert.ok(Math.abs(x(100) - x(99.9) - 2 * decade) < 0.2)
  })

  it('leaves out the server-side and SLO sections a result does not have, and shows them when it does', () => {
    const bare = sample()
    delete bare.metrics.fast_path
    delete bare.metrics.persistence_queue
    delete bare.metrics.summary.tail_ratio
    const bareHtml = renderHtmlReport(bare)
    assert.doesNotMatch(bareHtml, /Server side|Fast path|Persistence queue|SLO compliance/)

    const full = sample()
    full.slo_compliance = {
      status: 'WARN',
      profile: 'light',
      checks: [
        {
          name: 'tail ratio',
          metric: 'metrics.summary.tail_ratio',
          operator: '<=',
          threshold: 20,
          actual: 4,
          passed: true,
          severity: 'warning',
          message: 'ok',
        },
      ],
    }
    const html = renderHtmlReport(full)
    for (const text of [
      'Fast path (µs)',
      '<th scope="row">Process latency</th><td class="n">20</td><td class="n">80</td><td class="n">400</td>',
      '<dt>Drop count</dt><dd>0</dd>',
      '<th scope="row">Durable ack</th><td class="n">9,000</td><td class="n">30,000</td><td class="n">45,000</td>',
      '<th scope="row">fdatasync</th>',
      '<th scope="row">WAL enqueue</th>',
      '<dd>4</dd>',
      '<span class="badge WARN">WARN</span>',
      '<code>metrics.summary.tail_ratio</code>',
    ]) {
      assert.ok(html.includes(text), `missing ${text}`)
    }
  })

  it('still renders an empty curve, with a note instead of points', () => {
    const result = sample()
    result.metrics.http.percentile_curve = []
    const html = renderHtmlReport(result)
    assert.doesNotMatch(html, /<circle class="point"/)
    assert.match(html, /no latency samples/)
    assert.doesNotMatch(html, /NaN|Infinity/)
  })
})
