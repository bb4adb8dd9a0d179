import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {podmanBinary} from '../../src/stack/engine/connect.js'
import type {StatusResult, UpResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.ui
const ui = `http://127.0.0.1:${4000 + offset}`
const pm = `http://127.0.0.1:${3001 + offset}`

interface UiHealth {
  ok: boolean
  service: string
  pm: {reachable: boolean; url: string; status?: number; error?: string}
}

async function json<T>(url: string, init?: RequestInit): Promise<{status: number; type: string; body: T}> {
  const response = await fetch(url, init)
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    body: (await response.json()) as T,
  }
}

/** The first `data:` event of an SSE stream, and how long it took; the stream is closed after. */
async function firstEvent(
  url: string,
  timeoutMs: number,
): Promise<{ms: number; contentType: string; data: string}> {
  const started = performance.now()
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  try {
    const response = await fetch(url, {headers: {accept: 'text/event-stream'}, signal: controller.signal})
    assert.equal(response.status, 200)
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    for (;;) {
      const {value, done} = await reader.read()
      if (done) throw new Error(`the stream ended before an event: ${text}`)
      text += decoder.decode(value, {stream: true})
      const event = /^data: (.*)$/m.exec(text)
      if (event && text.includes('\n\n')) {
        return {
          ms: performance.now() - started,
          contentType: response.headers.get('content-type') ?? '',
          data: event[1]!,
        }
      }
    }
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
}

describe('the web UI on the real stack', {timeout: 300_000}, () => {
  const home = makeHome('ui')
  let index: string

  before(async () => {
    const up = await upStack(home, offset, 'ui')
    assert.deepEqual(
      up.components.map((c) => [c.name, c.state]),
      [
        ['rabbitmq', 'healthy'],
        ['redis', 'healthy'],
        ['pm', 'healthy'],
        ['ui', 'healthy'],
      ],
    )
    index = await (await fetch(`${ui}/`)).text()
  })

  after(() => cleanup(home))

  it('poc status lists the ui with its URL, healthy', async () => {
    const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    const entry = status.components.find((c) => c.name === 'ui')
    assert.ok(entry, 'ui is in poc status')
    assert.equal(entry.urls.http, ui)
    assert.equal(entry.state, 'healthy')
  })

  it('serves the built app at / and at deep links (SPA fallback), revalidated', async () => {
    assert.match(index, /<div id="root"><\/div>/)
    assert.match(index, /<script type="module"[^>]* src="\/assets\/[^"]+\.js"/)
    for (const link of [
      '/projects',
      '/timesheets?status=submitted',
      '/compliance',
      '/telemetry?pollMs=5000',
      '/no/such/page',
    ]) {
      const response = await fetch(`${ui}${link}`)
      assert.equal(response.status, 200, link)
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/, link)
      assert.equal(response.headers.get('cache-control'), 'no-cache', link)
      assert.equal(await response.text(), index, link)
    }
  })

  it('serves every asset index.html names with its content type, cached for good, and nothing from another origin', async () => {
    const assets = [...index.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    assert.ok(
      assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')),
      assets.join(' '),
    )
    for (const asset of assets) {
      assert.match(asset, /^\/[^/]/, `${asset} is served by the ui itself`)
      const response = await fetch(`${ui}${asset}`)
      assert.equal(response.status, 200, asset)
      const expected = asset.endsWith('.js')
        ? /^(application|text)\/javascript/
        : asset.endsWith('.css')
          ? /^text\/css/
          : /^image\/svg\+xml/
      assert.match(response.headers.get('content-type') ?? '', expected, asset)
      if (asset.startsWith('/assets/')) {
        assert.match(response.headers.get('cache-control') ?? '', /immutable/, asset)
        const text = await response.text()
        assert.doesNotMatch(text, /https?:\/\/(fonts\.googleapis|fonts\.gstatic|cdn\.|unpkg|jsdelivr)/, asset)
      }
    }
    const missing = await json<{error: string}>(`${ui}/assets/no-such-file.js`)
    assert.equal(missing.status, 404)
    assert.equal(missing.body.error, 'not_found')
  })

  it('GET /health is ok and says pm is reachable; /metrics is Prometheus text with the ui series', async () => {
    const health = await json<UiHealth>(`${ui}/health`)
    assert.equal(health.status, 200)
    assert.equal(health.body.ok, true)
    assert.equal(health.body.service, 'ui')
    assert.equal(health.body.pm.reachable, true)
    assert.equal(health.body.pm.url, pm)
    const metrics = await fetch(`${ui}/metrics`)
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/)
    assert.match(await metrics.text(), /^poc_ui_pm_reachable\{service="ui"\} 1$/m)
  })

  it('proxies /api to pm: reads, writes (Idempotency-Key passed on), pm’s own 4xx and 404 unchanged', async () => {
    const direct = await json<{items: unknown[]}>(`${pm}/api/v1/projects`)
    const proxied = await json<{items: unknown[]}>(`${ui}/api/v1/projects`)
    assert.equal(proxied.status, 200)
    assert.match(proxied.type, /^application\/json/)
    assert.deepEqual(proxied.body.items, direct.body.items)

    const code = `UI-${Date.now()}`
    const create = (key: string) =>
      json<{item: {projectCode?: string; code?: string}; idempotent?: boolean}>(`${ui}/api/v1/projects`, {
        method: 'POST',
        headers: {'content-type': 'application/json', 'idempotency-key': key},
        body: JSON.stringify({projectCode: code, projectName: 'Through the ui'}),
      })
    const created = await create(`ui-test-${code}`)
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const replay = await create(`ui-test-${code}`)
    assert.equal(replay.status, 200)
    assert.equal(replay.body.idempotent, true)

    const invalid = await json<{error: string}>(`${ui}/api/v1/timesheets`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({hours: 99}),
    })
    assert.equal(invalid.status, 400)
    assert.equal(invalid.body.error, 'validation_failed')

    const unknown = await json<{error: string; message: string}>(`${ui}/api/v1/no-such-thing`)
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.error, 'not_found')
    assert.match(unknown.body.message, /GET \/api\/v1\/no-such-thing/)

    const malformed = await json<{error: string}>(`${ui}/api/v1/projects`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: '{"projectCode":',
    })
    assert.equal(malformed.status, 400)
    assert.equal(malformed.body.error, 'invalid_json')
  })

  it('proxies /graphql, /metrics/summary, /events/recent and /health/telemetry to pm', async () => {
    const graphql = await fetch(`${ui}/graphql`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({query: '{ __typename }'}),
    })
    const direct = await fetch(`${pm}/graphql`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({query: '{ __typename }'}),
    })
    // pm's answer, whatever it is today (its GraphQL lands separately): the same through the ui.
    assert.equal(graphql.status, direct.status)
    assert.deepEqual(await graphql.json(), await direct.json())

    const summary = await json<{events: number; cachedAt: string}>(`${ui}/metrics/summary?refresh=true`)
    assert.equal(summary.status, 200)
    assert.equal(typeof summary.body.events, 'number')
    const recent = await fetch(`${ui}/events/recent?limit=5`)
    assert.equal(recent.status, (await fetch(`${pm}/events/recent?limit=5`)).status)
    const telemetry = await fetch(`${ui}/health/telemetry`)
    assert.equal(telemetry.status, (await fetch(`${pm}/health/telemetry`)).status)
  })

  it('streams /metrics/stream through the proxy: the first event within 2 s, as text/event-stream', async () => {
    const event = await firstEvent(`${ui}/metrics/stream`, 5000)
    assert.ok(event.ms < 2000, `first event after ${Math.round(event.ms)} ms`)
    assert.match(event.contentType, /^text\/event-stream/)
    assert.equal(typeof (JSON.parse(event.data) as {events: unknown}).events, 'number')
  })

  it('never proxies /admin/*: pm’s admin routes answer on pm’s port only', async () => {
    for (const method of ['GET', 'POST']) {
      const answer = await json<{error: string; message: string}>(`${ui}/admin/reset`, {method})
      assert.equal(answer.status, 404, method)
      assert.equal(answer.body.error, 'not_found')
      assert.match(answer.body.message, /does not proxy/)
    }
    const page = await fetch(`${ui}/admin`)
    assert.equal(page.status, 404)
  })

  describe('while pm hangs (stopped with SIGSTOP)', () => {
    let pmPid: number

    before(async () => {
      // A short proxy timeout, from the environment of poc up as a user would set it.
      assert.equal((await runPoc(home, ['down', '--only', 'ui'])).exitCode, 0)
      const up = await runPoc(home, ['up', '--only', 'ui', '--port-offset', String(offset)], {
        UI_PROXY_TIMEOUT_MS: '1500',
      })
      assert.equal(up.exitCode, 0, up.stdout + up.stderr)
      const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
      pmPid = status.components.find((c) => c.name === 'pm')?.pids[0] as number
      assert.ok(pmPid > 0, 'pm has a pid')
      process.kill(pmPid, 'SIGSTOP')
    })

    after(() => {
      process.kill(pmPid, 'SIGCONT')
    })

    it('answers /health within its probe timeout and a proxied request with a JSON 504 upstream_timeout', async () => {
      // At most a second of the probe's cached answer, then each /health waits its 1 s timeout.
      let health = await json<UiHealth>(`${ui}/health`, {signal: AbortSignal.timeout(5000)})
      for (let i = 0; i < 4 && health.body.pm.reachable; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500))
        health = await json<UiHealth>(`${ui}/health`, {signal: AbortSignal.timeout(5000)})
      }
      assert.equal(health.status, 200)
      assert.equal(health.body.ok, true)
      assert.equal(health.body.pm.reachable, false)
      assert.match(health.body.pm.error ?? '', /no answer within/)
      const answer = await json<{error: string; message: string}>(`${ui}/api/v1/projects`, {
        signal: AbortSignal.timeout(10_000),
      })
      assert.equal(answer.status, 504)
      assert.equal(answer.body.error, 'upstream_timeout')
      assert.match(answer.body.message, /within 1500 ms/)
    })
  })

  describe('while pm is down', () => {
    before(async () => {
      const down = await runPoc(home, ['down', '--only', 'pm'])
      assert.equal(down.exitCode, 0, down.stdout + down.stderr)
    })

    it('keeps serving the app; /health stays ok and says pm is unreachable', async () => {
      assert.equal(await (await fetch(`${ui}/projects`)).text(), index)
      // The ui asks pm at most once a second however often its /health is asked.
      let health = await json<UiHealth>(`${ui}/health`)
      for (let i = 0; i < 10 && health.body.pm.reachable; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250))
        health = await json<UiHealth>(`${ui}/health`)
      }
      assert.equal(health.status, 200)
      assert.equal(health.body.ok, true)
      assert.equal(health.body.pm.reachable, false)
      assert.ok(health.body.pm.error, 'says why')
      const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
      assert.equal(status.components.find((c) => c.name === 'ui')?.state, 'healthy')
    })

    it('answers proxied routes at once with a JSON 503 upstream_unavailable, streams included', async () => {
      for (const [method, route] of [
        ['GET', '/api/v1/projects'],
        ['POST', '/api/v1/telemetry/ui'],
        ['POST', '/graphql'],
        ['GET', '/metrics/summary'],
        ['GET', '/metrics/stream'],
      ] as const) {
        const started = performance.now()
        const answer = await json<{error: string; message: string}>(`${ui}${route}`, {
          method,
          signal: AbortSignal.timeout(5000),
          ...(method === 'POST'
            ? {
                headers: {'content-type': 'application/json'},
                body: JSON.stringify({component: 'ui', event: 'x'}),
              }
            : {}),
        })
        const ms = performance.now() - started
        assert.equal(answer.status, 503, route)
        assert.match(answer.type, /^application\/json/, route)
        assert.equal(answer.body.error, 'upstream_unavailable', route)
        assert.match(answer.body.message, new RegExp(`pm at ${pm.replaceAll('.', '\\.')}`), route)
        assert.ok(ms < 1000, `${route} answered after ${Math.round(ms)} ms`)
      }
      const metrics = await (await fetch(`${ui}/metrics`)).text()
      assert.match(metrics, /^poc_ui_pm_reachable\{service="ui"\} 0$/m)
      assert.match(
        metrics,
        /^poc_ui_proxy_upstream_failures_total\{reason="unavailable",service="ui"\} [1-9]/m,
      )
    })

    it('works again once pm is back, streams included', async () => {
      const up = await runPoc(home, ['up', '--only', 'pm', '--port-offset', String(offset)])
      assert.equal(up.exitCode, 0, up.stdout + up.stderr)
      const projects = await json<{items: unknown[]}>(`${ui}/api/v1/projects`)
      assert.equal(projects.status, 200)
      assert.ok(projects.body.items.length > 0)
      const event = await firstEvent(`${ui}/metrics/stream`, 5000)
      assert.ok(event.ms < 2000, `first event after ${Math.round(event.ms)} ms`)
      const health = await json<UiHealth>(`${ui}/health`)
      // The probe caches its answer for a second.
      if (!health.body.pm.reachable) await new Promise((resolve) => setTimeout(resolve, 1100))
      assert.equal((await json<UiHealth>(`${ui}/health`)).body.pm.reachable, true)
    })
  })
})

describe(
  'the web UI from the services image (poc up --runtime podman --services-in-containers)',
  {
    // In CI podman must be there (as in podman.test.ts): a missing one fails instead of skipping.
    skip:
      podmanBinary() || process.env.CI
        ? false
        : 'podman is not installed (npm run setup installs it; CI must have it)',
    timeout: 900_000,
  },
  () => {
    const home = makeHome('ui-podman')
    const offsetHere = testPortOffsets.uiPodman
    const uiHere = `http://127.0.0.1:${4000 + offsetHere}`
    after(() => cleanup(home))

    it('serves the built app and proxies pm by its alias on the stack network', async () => {
      const run = await runPoc(
        home,
        ['up', '--only', 'ui', '--services-in-containers', '--port-offset', String(offsetHere), '--json'],
        {POC_RUNTIME: 'podman'},
      )
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      const entry = parseJson<UpResult>(run).components.find((c) => c.name === 'ui')
      assert.equal(entry?.state, 'healthy')
      const page = await fetch(`${uiHere}/projects`)
      assert.equal(page.status, 200)
      const html = await page.text()
      const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1]
      assert.ok(script, 'index.html names its script')
      const asset = await fetch(`${uiHere}${script}`)
      assert.equal(asset.status, 200, 'the built app is in the image')
      const health = await json<UiHealth>(`${uiHere}/health`)
      assert.equal(health.body.pm.reachable, true)
      assert.equal(health.body.pm.url, 'http://pm:3001')
      assert.equal((await json<{items: unknown[]}>(`${uiHere}/api/v1/projects`)).status, 200)
      const event = await firstEvent(`${uiHere}/metrics/stream`, 5000)
      assert.ok(event.ms < 2000, `first event after ${Math.round(event.ms)} ms`)
    })
  },
)
