import assert from 'node:assert/strict'
import {rmSync} from 'node:fs'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import {after, before, describe, it} from 'node:test'
import {pino} from 'pino'
import {registerPmRoutes} from '../../src/services/pm/routes.js'
import type {Envelope} from '../../src/contract/envelope.js'
import {createHttpServer} from '../../src/services/shared/http.js'
import {createLogger} from '../../src/services/shared/logger.js'
import {createRegistry} from '../../src/services/shared/metrics.js'
import {SseHub} from '../../src/services/shared/sse.js'
import {pmStores} from './pm-stores.js'
import {makeHome, repoRoot} from '../helpers.js'

/** Approvals racing each other: each timesheet transition publishes exactly one event (issue 13.7). */
describe('pm approve under concurrency', () => {
  const dir = makeHome('pmapprove')
  const seedFile = path.join(repoRoot, 'fixtures/pm/seed.json')
  const logger = createLogger('pm', 'silent')
  const metricsHub = new SseHub()
  const telemetryHub = new SseHub<Record<string, unknown>>()
  const published: Envelope[] = []
  let publishing = 0
  let mostPublishing = 0
  const app = createHttpServer({service: 'pm', logger, registry: createRegistry('pm')})

  before(async () => {
    registerPmRoutes(app, {
      ...(await pmStores(dir, seedFile, logger)),
      // A broker confirm takes a while: the window in which a second approval used to slip in.
      publisher: {
        publishToShard: async (envelope) => {
          publishing++
          mostPublishing = Math.max(mostPublishing, publishing)
          await delay(20)
          published.push(envelope)
          publishing--
          return {shard: 1}
        },
        publish: async () => ({status: 'confirmed'}),
      },
      metricsHub,
      telemetryHub,
      seedFile,
      metricsCacheMs: 5000,
      adminToken: undefined,
      idempotencyStats: () => ({}),
    })
  })

  after(async () => {
    metricsHub.close()
    telemetryHub.close()
    await app.close()
    rmSync(dir, {recursive: true, force: true})
  })

  const submitted = async (): Promise<string> => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/timesheets',
      payload: {projectCode: 'DX-2025-01', userName: 'u', hours: 2, workDate: '2026-01-01', autoSubmit: true},
    })
    assert.equal(response.statusCode, 201, response.body)
    return (response.json() as {item: {id: string}}).item.id
  }
  const approve = (id: string, key: string) =>
    app.inject({method: 'POST', url: `/api/v1/timesheets/${id}/approve`, headers: {'idempotency-key': key}})
  const eventsFor = (id: string) =>
    published.filter((e) => (e.payload as {timesheetId: string}).timesheetId === id)

  it('publishes once for 10 concurrent approvals with different keys; the 409s change nothing', async () => {
    const id = await submitted()
    const answers = await Promise.all(Array.from({length: 10}, (_, i) => approve(id, `race-${id}-${i}`)))
    const statuses = answers.map((a) => a.statusCode).sort()
    assert.deepEqual(statuses, [200, ...Array(9).fill(409)])
    for (const a of answers.filter((r) => r.statusCode === 409)) {
      assert.equal((a.json() as {error: string}).error, 'action_not_allowed')
    }
    assert.equal(eventsFor(id).length, 1)
    const winner = answers.find((a) => a.statusCode === 200)!.json() as {eventId: string}
    assert.equal(eventsFor(id)[0]?.eventId, winner.eventId)
    const list = await app.inject({method: 'GET', url: '/api/v1/timesheets?limit=1000'})
    const item = (list.json() as {items: Array<{id: string; status: string; eventId: string}>}).items.find(
      (t) => t.id === id,
    )
    assert.equal(item?.status, 'approved')
    assert.equal(item?.eventId, winner.eventId)
  })

  it('answers a replay of the winning key with the original 200 and publishes nothing more', async () => {
    const id = await submitted()
    const first = await approve(id, `once-${id}`)
    assert.equal(first.statusCode, 200, first.body)
    const again = await Promise.all([approve(id, `once-${id}`), approve(id, `once-${id}`)])
    for (const a of again) {
      assert.equal(a.statusCode, 200, a.body)
      const body = a.json() as {eventId: string; shard: number; item: {status: string}}
      const original = first.json() as {eventId: string; shard: number}
      assert.equal(body.eventId, original.eventId)
      assert.equal(body.shard, original.shard)
      assert.equal(body.item.status, 'approved')
    }
    const other = await approve(id, `other-${id}`)
    assert.equal(other.statusCode, 409)
    assert.equal(eventsFor(id).length, 1)
  })

  it('moves a submitted timesheet once through the shortcut, then publishes its later approvals side by side, in order', async () => {
    const id = await submitted()
    const shortcut = (n: number) =>
      app.inject({
        method: 'POST',
        url: '/timesheets/approve',
        headers: {'idempotency-key': `short-${id}-${n}`},
        payload: {timesheetId: id, hours: 1, note: `n${n}`},
      })
    // Submitted: the first takes the lock and approves it; the others wait for it, one at a time.
    mostPublishing = 0
    const first = await Promise.all([0, 1, 2].map(shortcut))
    assert.deepEqual(
      first.map((a) => a.statusCode),
      [202, 202, 202],
    )
    assert.equal(mostPublishing, 1)
    const list = await app.inject({method: 'GET', url: '/api/v1/timesheets?limit=1000'})
    const item = (list.json() as {items: Array<{id: string; status: string; eventId: string}>}).items.find(
      (t) => t.id === id,
    )
    assert.equal(item?.status, 'approved')
    assert.equal(item?.eventId, (first[0]?.json() as {eventId: string}).eventId)
    // Approved: nothing changes, so nothing waits for the approval before it.
    mostPublishing = 0
    const later = await Promise.all([3, 4, 5, 6, 7].map(shortcut))
    assert.ok(later.every((a) => a.statusCode === 202))
    assert.equal(mostPublishing, 5)
    assert.deepEqual(
      eventsFor(id).map((e) => (e.payload as {note: string}).note),
      ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'],
    )
  })

  it('never publishes for an approval that loses to a concurrent reject', async () => {
    for (let round = 0; round < 5; round++) {
      const id = await submitted()
      const [approved, rejected] = await Promise.all([
        approve(id, `ar-${id}`),
        app.inject({method: 'POST', url: `/api/v1/timesheets/${id}/reject`}),
      ])
      assert.equal([approved.statusCode, rejected.statusCode].filter((s) => s === 200).length, 1)
      assert.equal(eventsFor(id).length, approved.statusCode === 200 ? 1 : 0)
    }
  })
})

describe("pm's request log on the approve shortcut", () => {
  it('logs an accepted approval at debug and a refused one at info', async () => {
    const dir = makeHome('pmapprovelog')
    const seedFile = path.join(repoRoot, 'fixtures/pm/seed.json')
    const lines: Array<{level: number; msg: string; url?: string; status?: number}> = []
    const logger = pino({level: 'debug'}, {write: (line: string) => void lines.push(JSON.parse(line))})
    const metricsHub = new SseHub()
    const telemetryHub = new SseHub<Record<string, unknown>>()
    const app = createHttpServer({service: 'pm', logger, registry: createRegistry('pm')})
    registerPmRoutes(app, {
      ...(await pmStores(dir, seedFile, logger)),
      publisher: {publishToShard: async () => ({shard: 2}), publish: async () => ({status: 'confirmed'})},
      metricsHub,
      telemetryHub,
      seedFile,
      metricsCacheMs: 5000,
      adminToken: undefined,
      idempotencyStats: () => ({}),
    })
    try {
      const approve = (body: unknown) =>
        app.inject({method: 'POST', url: '/timesheets/approve', payload: body as object})
      assert.equal((await approve({timesheetId: 'TS-001', hours: 2})).statusCode, 202)
      assert.equal((await approve({timesheetId: 'TS-001', hours: 99})).statusCode, 400)
      const requests = lines.filter((line) => line.msg === 'request' && line.url === '/timesheets/approve')
      assert.deepEqual(
        requests.map((line) => [line.status, line.level]),
        [
          [202, 20],
          [400, 30],
        ],
      )
    } finally {
      metricsHub.close()
      telemetryHub.close()
      await app.close()
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
