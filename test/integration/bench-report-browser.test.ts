import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'
import {chromium, type Browser, type Page} from '@playwright/test'
import {renderHtmlReport} from '../../src/checks/bench/html-report.js'
import type {BenchResult} from '../../src/contract/bench.js'
import {repoRoot} from '../helpers.js'

// The system Chromium, not Playwright's download: `npm run setup` installs it, and this machine
// cannot fetch browsers. Its absence is the only reason to skip.
const chromiumPath = '/usr/bin/chromium'
const skip = existsSync(chromiumPath)
  ? false
  : `${chromiumPath} is not installed (npm run setup installs chromium): the HTML report is not checked in a browser`

const result = JSON.parse(
  readFileSync(path.join(repoRoot, 'fixtures/bench/sample-result.json'), 'utf8'),
) as BenchResult
const curve = result.metrics.http.percentile_curve

interface DrawnPoint {
  percentile: number
  latencyUs: number
  x: number
  y: number
  width: number
  height: number
}

describe('bench HTML report in headless Chromium', {skip, timeout: 120_000}, () => {
  let dir: string
  let browser: Browser
  let page: Page
  let fileUrl: string
  const requests: string[] = []
  const consoleErrors: string[] = []

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'poc-test-bench-report-'))
    const file = path.join(dir, 'report.html')
    writeFileSync(file, renderHtmlReport(result))
    fileUrl = pathToFileURL(file).href
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    })
    page = await browser.newPage({viewport: {width: 1024, height: 900}})
    page.on('request', (request) => requests.push(request.url()))
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text())
    })
    page.on('pageerror', (error) => consoleErrors.push(error.message))
    await page.goto(fileUrl, {waitUntil: 'load'})
  })

  after(async () => {
    await browser?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  async function drawnPoints(series: string): Promise<DrawnPoint[]> {
    const circles = page.locator(`#latency-plot g.series[data-series="${series}"] circle.point`)
    return circles.evaluateAll((elements) =>
      elements.map((element) => {
        const box = element.getBoundingClientRect()
        return {
          percentile: Number(element.getAttribute('data-percentile')),
          latencyUs: Number(element.getAttribute('data-latency-us')),
          x: box.x + box.width / 2,
          y: box.y + box.height / 2,
          width: box.width,
          height: box.height,
        }
      }),
    )
  }

  it('shows the plot with a real size', async () => {
    const plot = page.locator('#latency-plot')
    assert.equal(await plot.count(), 1)
    assert.ok(await plot.isVisible(), '#latency-plot is not visible')
    const box = await plot.boundingBox()
    assert.ok(box && box.width > 200 && box.height > 100, `#latency-plot box ${JSON.stringify(box)}`)
    assert.equal(await plot.getAttribute('role'), 'img')
    assert.ok((await plot.getAttribute('aria-label'))?.trim(), 'the plot has no aria-label')
  })

  it('draws two series with one visible point per percentile, carrying the sample values', async () => {
    const series = await page
      .locator('#latency-plot g.series')
      .evaluateAll((groups) => groups.map((g) => g.getAttribute('data-series')))
    assert.deepEqual(series.sort(), ['corrected', 'raw'])
    const plotBox = (await page.locator('#latency-plot').boundingBox())!
    for (const [name, key] of [
      ['corrected', 'corrected_us'],
      ['raw', 'raw_us'],
    ] as const) {
      const points = await drawnPoints(name)
      assert.equal(points.length, curve.length, `${name}: ${points.length} points for ${curve.length}`)
      assert.deepEqual(
        points.map((p) => [p.percentile, p.latencyUs]),
        curve.map((p) => [p.percentile, p[key]]),
        name,
      )
      for (const p of points) {
        assert.ok(p.width > 0 && p.height > 0, `${name} p${p.percentile} has no size`)
        assert.ok(
          p.x >= plotBox.x &&
            p.x <= plotBox.x + plotBox.width &&
            p.y >= plotBox.y &&
            p.y <= plotBox.y + plotBox.height,
          `${name} p${p.percentile} is drawn outside the plot`,
        )
      }
    }
  })

  it('draws higher percentiles to the right and never below lower ones', async () => {
    for (const name of ['corrected', 'raw']) {
      const points = (await drawnPoints(name)).sort((a, b) => a.percentile - b.percentile)
      for (let i = 1; i < points.length; i++) {
        const [before, here] = [points[i - 1]!, points[i]!]
        assert.ok(here.x > before.x, `${name}: p${here.percentile} is not right of p${before.percentile}`)
        // Screen y grows downwards: a latency at least as high must sit at least as high.
        assert.ok(here.latencyUs >= before.latencyUs, `${name}: the sample's curve is not monotonic`)
        assert.ok(
          here.y <= before.y + 0.01,
          `${name}: p${here.percentile} (${here.latencyUs} µs) is drawn below p${before.percentile} (${before.latencyUs} µs)`,
        )
      }
      const [first, last] = [points[0]!, points[points.length - 1]!]
      assert.ok(last.y < first.y, `${name}: the curve is flat on screen`)
    }
  })

  it('has the data table under the plot', async () => {
    const rows = page.locator('#latency-data tbody tr')
    assert.equal(await rows.count(), curve.length)
    assert.ok(await page.locator('#latency-data').isVisible())
  })

  it('logs no error and requests nothing but the file itself', () => {
    assert.deepEqual(consoleErrors, [])
    assert.deepEqual(requests, [fileUrl])
  })
})
