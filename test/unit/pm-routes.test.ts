import assert from 'node:assert/strict'
import {rmSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {EventSource} from 'eventsource'
import {readEventStream} from '../../src/checks/event-stream.js'
import {registerPmRoutes} from '../../src/services/pm/routes.js'
import {telemetryStreamEvents} from '../../src/contract/telemetry.js'
import {close, createHttpServer, listen} from '../../src/services/shared/http.js'
import {createLogger} from '../../src/services/shared/logger.js'
import {createRegistry} from '../../src/services/shared/metrics.js'
import {SseHub} from '../../src/services/shared/sse.js'
import {pmStores} from './pm-stores.js'
import {makeHome, repoRoot} from '../helpers.js'

/** pm's HTTP contract over a real server; publishing (approve) is covered with the real bus elsewhere. */
describe('pm routes', () => {
  const dir = makeHome('pmroutes')
  const seedFile = path.join(repoRoot, 'fixtures/pm/seed.json')
  const logger = createLogger('pm', 'silent')
  const metricsHub = new SseHub()
  const telemetryHub = new SseHub<Record<string, unknown>>()
  let app: ReturnType<typeof createHttpServer>
  let url = ''

  before(async () => {
    app = createHttpServer({service: 'pm', logger, registry: createRegistry('pm'), bodyLimitBytes: 64 * 1024})
    registerPmRoutes(app, {
      ...(await pmStores(dir, seedFile, logger)),
      // Approvals need the broker (covered in pm-approve and on the real bus); project events are accepted.
      publisher: {
        publishToShard: async () => Promise.reject(new Error('no broker in this test')),
        publish: async () => ({status: 'confirmed'}),
      },
      metricsHub,
      telemetryHub,
      seedFile,
      metricsCacheMs: 5000,
      idempotencyStats: () => ({}),
    })
    url = (await listen(app, {port: 0})).url
  })

  after(async () => {
    metricsHub.close()
    telemetryHub.close()
    await close(app, 100)
    rmSync(dir, {recursive: true, force: true})
  })

  const call = async (
    method: string,
    route: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${url}${route}`, {
      method,
      headers: body === undefined ? headers : {'content-type': 'application/json', ...headers},
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await response.text()
    return {status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined}
  }

  const badInput: Array<[string, string, string, unknown, number, string]> = [
    ['malformed JSON', 'POST', '/api/v1/projects', '{"projectCode": ', 400, 'invalid_json'],
    [
      'a wrong type',
      'POST',
      '/api/v1/timesheets',
      {projectCode: 'DX-2025-01', userName: 'a', hours: 'many', workDate: '2026-01-01'},
      400,
      'validation_failed',
    ],
    [
      'hours out of range',
      'POST',
      '/api/v1/timesheets',
      {projectCode: 'DX-2025-01', userName: 'a', hours: 30, workDate: '2026-01-01'},
      400,
      'validation_failed',
    ],
    [
      'an oversize body',
      'POST',
      '/api/v1/telemetry/ui',
      {component: 'ui', event: 'big', detail: 'x'.repeat(70 * 1024)},
      413,
      'payload_too_large',
    ],
    ['an unknown route', 'GET', '/api/v1/nothing', undefined, 404, 'not_found'],
    ['an unknown project', 'POST', '/api/v1/projects/PRJ-999/close', undefined, 404, 'project_not_found'],
    [
      'an unknown project action',
      'POST',
      '/api/v1/projects/PRJ-001/explode',
      undefined,
      400,
      'unknown_action',
    ],
    [
      'an invalid project transition',
      'POST',
      '/api/v1/projects/PRJ-003/hold',
      undefined,
      409,
      'action_not_allowed',
    ],
    [
      'an invalid timesheet transition',
      'POST',
      '/api/v1/timesheets/TS-001/resubmit',
      undefined,
      409,
      'action_not_allowed',
    ],
    ['an unknown timesheet', 'DELETE', '/api/v1/timesheets/TS-999', undefined, 404, 'timesheet_not_found'],
    ['a bad telemetry limit', 'GET', '/api/v1/telemetry/ui?limit=1000', undefined, 400, 'validation_failed'],
    [
      'a bad detail_path',
      'GET',
      '/api/v1/telemetry/ui?detail_path=items%5Bx%5D',
      undefined,
      400,
      'validation_failed',
    ],
    ['telemetry without a component', 'POST', '/api/v1/telemetry/ui', {event: 'x'}, 400, 'validation_failed'],
    [
      'a shortcut approve without hours',
      'POST',
      '/timesheets/approve',
      {timesheetId: 'TS-001'},
      400,
      'validation_failed',
    ],
    ['a bad invoice page', 'GET', '/api/v1/compliance/invoices?page=0', undefined, 400, 'validation_failed'],
  ]
  for (const [name, method, route, body, status, code] of badInput) {
    it(`answers ${name} with ${status} ${code}`, async () => {
      const answer = await call(method, route, body)
      assert.equal(answer.status, status, JSON.stringify(answer.json))
      assert.equal(answer.json?.error, code)
      assert.equal(typeof answer.json?.message, 'string')
    })
  }

  it('creates a project (201), replays its Idempotency-Key (200, idempotent) and refuses its code again (409)', async () => {
    const body = {projectCode: 'NEW-1', projectName: 'New'}
    const first = await call('POST', '/api/v1/projects', body, {'idempotency-key': 'k-1'})
    assert.equal(first.status, 201)
    const replay = await call('POST', '/api/v1/projects', body, {'idempotency-key': 'k-1'})
    assert.deepEqual([replay.status, replay.json?.idempotent], [200, true])
    assert.equal((replay.json?.item as {id: string}).id, (first.json?.item as {id: string}).id)
    assert.equal((await call('POST', '/api/v1/projects', body)).status, 409)
    const list = await call('GET', '/api/v1/projects?status=planned')
    assert.ok((list.json?.items as Array<{projectCode: string}>).some((p) => p.projectCode === 'NEW-1'))
  })

  it('walks a timesheet through submit and reject, and reports it in the summary', async () => {
    const created = await call('POST', '/api/v1/timesheets', {
      projectCode: 'NEW-1',
      userName: 'u',
      hours: 2,
      workDate: '2026-11-20',
    })
    assert.equal(created.status, 201)
    const id = (created.json?.item as {id: string}).id
    assert.equal(
      ((await call('POST', `/api/v1/timesheets/${id}/submit`)).json?.item as {status: string}).status,
      'submitted',
    )
    assert.equal(
      ((await call('POST', `/api/v1/timesheets/${id}/reject`)).json?.item as {status: string}).status,
      'rejected',
    )
    const summary = await call('GET', '/metrics/summary?refresh=true')
    assert.equal((summary.json?.timesheets as Record<string, number>).rejected, 1)
    assert.equal(summary.json?.stale, false)
  })

  it('stores telemetry (204) and finds it by detail_path', async () => {
    const marker = `probe-${Date.now()}`
    assert.equal(
      (await call('POST', '/api/v1/telemetry/ui', {component: 'smoke', event: 'probe', detail: {marker}}))
        .status,
      204,
    )
    const found = await call('GET', `/api/v1/telemetry/ui?detail_path=%24.detail.marker&detail=${marker}`)
    assert.equal(found.json?.total, 1)
  })

  it('opens /metrics/stream with the summary as an unnamed event: its data line first, then its id and the retry hint', async () => {
    const controller = new AbortController()
    const response = await fetch(`${url}/metrics/stream`, {signal: controller.signal})
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    let text = ''
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value)
    controller.abort()
    const [data, id, retry, ...rest] = (text.split('\n\n')[0] ?? '').split('\n')
    assert.match(data ?? '', /^data: \{.*"projects"/, 'the stream’s first line is its data line')
    assert.ok(JSON.parse(data?.slice('data: '.length) ?? '').cachedAt)
    assert.match(id ?? '', /^id: \d+$/)
    assert.equal(retry, 'retry: 3000')
    assert.deepEqual(rest, [], 'no event: field, so the summary is a message event')
  })

  it('hands the summary to an EventSource’s onmessage on connect and after a change, each with its id', async () => {
    const source = new EventSource(`${url}/metrics/stream`)
    const got: MessageEvent[] = []
    let wake = () => {}
    source.onmessage = (event) => {
      got.push(event)
      wake()
    }
    const until = async (count: number) => {
      const deadline = Date.now() + 5000
      while (got.length < count && Date.now() < deadline)
        await new Promise<void>((resolve) => {
          wake = resolve
          setTimeout(resolve, 100)
        })
      assert.ok(got.length >= count, `${count} summaries, got ${got.length}`)
    }
    try {
      await until(1)
      await call('POST', '/api/v1/projects', {projectCode: 'STREAM-1', projectName: 'Stream'})
      await until(2)
    } finally {
      source.close()
    }
    const [first, second] = got.map((event) => ({
      id: event.lastEventId,
      summary: JSON.parse(String(event.data)) as {projects: Record<string, number>},
    }))
    assert.match(first?.id ?? '', /^\d+$/)
    assert.ok(Number(second?.id) > Number(first?.id), `ids increase: ${first?.id}, ${second?.id}`)
    assert.equal(second?.summary.projects.planned, (first?.summary.projects.planned ?? 0) + 1)
  })

  it('streams telemetry under each event’s own id, first replaying what a client missed after its Last-Event-ID', async () => {
    const post = async (component: string, event: string) =>
      assert.equal((await call('POST', '/api/v1/telemetry/ui', {component, event})).status, 204)
    await post('replay-ui', 'seen')
    const seen = (await call('GET', '/api/v1/telemetry/ui?component=replay-ui')).json?.items as {id: number}[]
    const lastSeen = seen[0]?.id as number
    await post('replay-ui', 'missed-1')
    await post('replay-other', 'filtered-out')
    await post('replay-ui', 'missed-2')

    const read = async (
      headers: Record<string, string>,
      query: string,
      count: number,
      then?: () => Promise<void>,
    ) => {
      const controller = new AbortController()
      const got: {id?: string; event: string; data: {id: number; event: string}}[] = []
      const stream = readEventStream(`${url}/api/v1/telemetry/ui/stream?component=replay-ui${query}`, {
        headers,
        events: Object.values(telemetryStreamEvents),
        signal: controller.signal,
      })
      for await (const message of stream) {
        got.push({id: message.id, event: message.event, data: JSON.parse(message.data)})
        if (got.length === count - 1 && then) await then()
        if (got.length === count) controller.abort()
      }
      return got
    }
    const viaHeader = await read({'last-event-id': String(lastSeen)}, '', 3, () => post('replay-ui', 'live'))
    assert.deepEqual(
      viaHeader.map((m) => [m.event, m.data.event, m.id === String(m.data.id)]),
      [
        ['telemetry', 'missed-1', true],
        ['telemetry', 'missed-2', true],
        ['telemetry', 'live', true],
      ],
    )
    const viaQuery = await read({}, `&lastEventId=${lastSeen}`, 3)
    assert.deepEqual(
      viaQuery.map((m) => m.data.event),
      ['missed-1', 'missed-2', 'live'],
    )
    const headerWins = await read(
      {'last-event-id': String(viaHeader[1]?.data.id)},
      `&lastEventId=${lastSeen}`,
      1,
    )
    assert.deepEqual(
      headerWins.map((m) => m.data.event),
      ['live'],
    )
    const unknown = await read({'last-event-id': '999999'}, '', 1)
    assert.equal(unknown[0]?.event, 'resync_required')
    assert.equal(unknown[0]?.id, '999999', 'the notice leaves the resume point where it was')
    assert.equal((await call('GET', '/api/v1/telemetry/ui/stream?lastEventId=nope')).status, 400)
  })
})
