import assert from 'node:assert/strict'
import {readFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {registerPmRoutes} from '../../src/services/pm/routes.js'
import type {Envelope} from '../../src/contract/envelope.js'
import type {PublishRequest} from '../../src/services/shared/bus.js'
import {createHttpServer} from '../../src/services/shared/http.js'
import {createLogger} from '../../src/services/shared/logger.js'
import {createRegistry} from '../../src/services/shared/metrics.js'
import {SseHub} from '../../src/services/shared/sse.js'
import {pmStores} from './pm-stores.js'
import {makeHome, repoRoot} from '../helpers.js'

type Json = Record<string, unknown>

/**
 * pm's REST API as the seed's clients use it (ITDO_ERP3 pm-service and its UI, issue 17): the
 * seed's names beside ours, cursor paging, cancel, the seeded compliance invoices and CORS.
 */
describe('pm REST API for the seed’s clients', () => {
  const dir = makeHome('pmseedapi')
  const seedFile = path.join(repoRoot, 'fixtures/pm/seed.json')
  const seed = JSON.parse(readFileSync(seedFile, 'utf8')) as {
    projects: Json[]
    invoices: Array<Json & {id: string; amountIncludingTax: number}>
  }
  const logger = createLogger('pm', 'silent')
  const metricsHub = new SseHub()
  const telemetryHub = new SseHub<Record<string, unknown>>()
  const published: PublishRequest[] = []
  const approvals: Envelope[] = []
  const app = createHttpServer({service: 'pm', logger, registry: createRegistry('pm')})

  before(async () => {
    registerPmRoutes(app, {
      ...(await pmStores(dir, seedFile, logger)),
      publisher: {
        publishToShard: async (envelope) => {
          approvals.push(envelope)
          return {shard: 2}
        },
        publish: async (request) => {
          published.push(request)
          return {eventId: request.envelope.eventId, status: 'confirmed'}
        },
      },
      metricsHub,
      telemetryHub,
      seedFile,
      metricsCacheMs: 5000,
      idempotencyStats: () => ({}),
      corsOrigins: ['http://ui.example:4000'],
    })
  })

  after(async () => {
    metricsHub.close()
    telemetryHub.close()
    await app.close()
    rmSync(dir, {recursive: true, force: true})
  })

  const call = async (
    method: string,
    url: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await app.inject({
      method: method as 'GET',
      url,
      headers,
      ...(payload === undefined ? {} : {payload: payload as Json}),
    })
    return {
      status: response.statusCode,
      json: response.body ? (response.json() as Json) : {},
      headers: response.headers,
    }
  }
  const eventsOf = (type: string) => published.filter((r) => r.envelope.type === type)

  it('lists projects under both names, with the seed’s fields', async () => {
    const {json} = await call('GET', '/api/v1/projects')
    const items = json.items as Json[]
    assert.equal(items.length, seed.projects.length)
    const dx = items.find((p) => p.id === 'PRJ-001') as Json
    assert.deepEqual(
      [dx.code, dx.projectCode, dx.name, dx.projectName, dx.manager, dx.health, dx.tags, dx.startOn],
      [
        'DX-2025-01',
        'DX-2025-01',
        'DX platform rollout',
        'DX platform rollout',
        'Yamada Taro',
        'green',
        ['DX', 'Priority'],
        '2025-09-01',
      ],
    )
    assert.deepEqual(json.meta && Object.keys(json.meta as Json).sort(), [
      'fallback',
      'fetchedAt',
      'returned',
      'total',
    ])
    assert.equal(json.next_cursor, undefined, 'no paging asked, no cursor')
  })

  it('pages projects with first/after: next_cursor until the last page, meta.total the matches', async () => {
    const seen: string[] = []
    let after = ''
    for (let page = 0; page < 10; page++) {
      const {status, json} = await call(
        'GET',
        `/api/v1/projects?status=all&first=2${after ? `&after=${after}` : ''}`,
      )
      assert.equal(status, 200)
      const meta = json.meta as {total: number; returned: number}
      assert.equal(meta.total, seed.projects.length)
      assert.equal(meta.returned, (json.items as Json[]).length)
      seen.push(...(json.items as Json[]).map((p) => p.id as string))
      const info = json.pageInfo as {endCursor: string | null; hasNextPage: boolean}
      assert.equal(info.hasNextPage, json.next_cursor !== undefined)
      if (json.next_cursor === undefined) break
      assert.equal(json.next_cursor, info.endCursor)
      after = json.next_cursor as string
    }
    assert.deepEqual(
      seen,
      seed.projects.map((p) => p.id),
      'every project once, in order',
    )
    const active = await call('GET', '/api/v1/projects?status=active&first=10')
    assert.ok((active.json.items as Json[]).every((p) => p.status === 'active'))
    assert.equal(
      (active.json.meta as {total: number}).total,
      seed.projects.filter((p) => p.status === 'active').length,
    )
  })

  it('filters projects as the seed does: keyword, manager, health, a required tag and any of tags', async () => {
    const ids = async (query: string) =>
      ((await call('GET', `/api/v1/projects?${query}`)).json.items as Json[]).map((p) => p.id)
    assert.deepEqual(await ids('keyword=kugel'), ['PRJ-001', 'PRJ-004', 'PRJ-005'])
    assert.deepEqual(await ids('manager=yamada'), ['PRJ-001', 'PRJ-005'])
    assert.deepEqual(await ids('health=yellow'), ['PRJ-002', 'PRJ-004'])
    assert.deepEqual(await ids('tag=dx'), ['PRJ-001'])
    assert.deepEqual(await ids('tags=crm,ams'), ['PRJ-002', 'PRJ-005'])
    assert.deepEqual(await ids('tags=crm&tags=risk'), ['PRJ-002', 'PRJ-004'])
  })

  it('refuses bad paging with 400: first out of range, an unknown cursor', async () => {
    for (const query of ['first=0', 'first=101', 'first=x', 'after=PRJ-404']) {
      const {status, json} = await call('GET', `/api/v1/projects?first=2&${query}`)
      assert.deepEqual([status, json.error], [400, 'validation_failed'], query)
    }
  })

  it('creates a project from the seed’s body, publishes pm.project.created once, replays without publishing', async () => {
    const body = {
      code: 'SEED-1',
      name: 'Seed style',
      clientName: 'Acme',
      status: 'active',
      startOn: '2026-01-05',
      endOn: '2026-06-30',
      manager: 'Kato',
      health: 'red',
      tags: ['Pilot', 'Pilot', 'UI'],
    }
    const first = await call('POST', '/api/v1/projects', body, {'idempotency-key': 'seed-proj-1'})
    assert.equal(first.status, 201, JSON.stringify(first.json))
    const item = first.json.item as Json
    assert.deepEqual(
      [item.code, item.projectCode, item.name, item.projectName, item.health, item.tags, item.endOn],
      ['SEED-1', 'SEED-1', 'Seed style', 'Seed style', 'red', ['Pilot', 'UI'], '2026-06-30'],
    )
    const events = eventsOf('pm.project.created').filter((r) => r.envelope.key === item.id)
    assert.equal(events.length, 1)
    assert.equal(events[0]?.exchange, 'domain')
    assert.equal(events[0]?.routingKey, 'pm.project.created')
    assert.equal(events[0]?.envelope.eventId, first.json.eventId)
    assert.deepEqual((events[0]?.envelope.payload as Json).code, 'SEED-1')

    const replay = await call('POST', '/api/v1/projects', body, {'idempotency-key': 'seed-proj-1'})
    assert.deepEqual(
      [replay.status, replay.json.idempotent, (replay.json.item as Json).id],
      [200, true, item.id],
    )
    assert.equal(eventsOf('pm.project.created').filter((r) => r.envelope.key === item.id).length, 1)
    assert.equal((await call('POST', '/api/v1/projects', body)).status, 409)
  })

  it('takes defaults for what the seed’s body leaves out, and refuses what contradicts itself', async () => {
    const made = await call('POST', '/api/v1/projects', {code: 'SEED-2', name: 'Defaults'})
    const item = made.json.item as Json
    assert.deepEqual([item.status, item.health, item.tags], ['planned', 'green', []])
    assert.match(item.startOn as string, /^\d{4}-\d{2}-\d{2}$/)
    const refused: Array<[Json, string]> = [
      [{code: 'A', projectCode: 'B', name: 'n'}, 'code'],
      [{code: 'C', name: 'n', projectName: 'm'}, 'name'],
      [{code: 'D', name: 'n', health: 'blue'}, 'health'],
      [{code: 'E', name: 'n', startOn: '2026-02-30'}, 'startOn'],
      [{code: 'F', name: 'n', startOn: '2026-03-01', endOn: '2026-02-01'}, 'endOn'],
      [{code: 'G', name: 'n', tags: 'x'}, 'tags'],
      [{name: 'no code'}, 'projectCode'],
    ]
    for (const [body, field] of refused) {
      const {status, json} = await call('POST', '/api/v1/projects', body)
      assert.deepEqual(
        [status, json.error, json.field],
        [400, 'validation_failed', field],
        JSON.stringify(body),
      )
    }
  })

  it('cancels a project on both routes: closed, endOn set, pm.project.cancelled published once per cancellation', async () => {
    const before = eventsOf('pm.project.cancelled').length
    const cancelled = await call('POST', '/api/v1/projects/PRJ-003/cancel')
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.json))
    const item = cancelled.json.item as Json
    assert.deepEqual(
      [item.status, typeof item.endOn, typeof item.cancelledAt],
      ['closed', 'string', 'string'],
    )
    const events = eventsOf('pm.project.cancelled').slice(before)
    assert.equal(events.length, 1)
    assert.deepEqual(
      [events[0]?.exchange, events[0]?.routingKey, events[0]?.envelope.key, events[0]?.envelope.eventId],
      ['domain', 'pm.project.cancelled', 'PRJ-003', cancelled.json.eventId],
    )
    assert.equal((events[0]?.envelope.payload as Json).previousStatus, 'planned')
    const again = await call('POST', '/api/v1/projects/PRJ-003/cancel')
    assert.deepEqual(
      [again.status, again.json.idempotent, again.json.eventId],
      [200, true, cancelled.json.eventId],
    )
    const other = await call('POST', '/api/v1/projects/PRJ-003/cancel', undefined, {
      'idempotency-key': 'another',
    })
    assert.deepEqual([other.status, other.json.error], [409, 'action_not_allowed'])

    const seedRoute = await call('POST', '/projects/OPS-2025-04/cancel')
    assert.deepEqual(
      [seedRoute.status, (seedRoute.json.item as Json).id],
      [200, 'PRJ-004'],
      'by code, on the seed’s route',
    )
    assert.equal(eventsOf('pm.project.cancelled').length, before + 2)
    assert.deepEqual((await call('POST', '/projects/PRJ-404/cancel')).json.error, 'project_not_found')
    assert.equal((await call('POST', '/api/v1/projects/PRJ-005/cancel')).status, 409, 'a closed project')
  })

  it('closing sets endOn when it has none', async () => {
    const made = await call('POST', '/api/v1/projects', {code: 'END-1', name: 'Ends', status: 'active'})
    const closed = await call('POST', `/api/v1/projects/${(made.json.item as Json).id as string}/close`)
    assert.match((closed.json.item as Json).endOn as string, /^\d{4}-\d{2}-\d{2}$/)
  })

  it('creates a timesheet from the seed’s body with its defaults and fields', async () => {
    const {status, json} = await call('POST', '/api/v1/timesheets', {
      userName: 'Seed User',
      projectCode: 'DX-2025-01',
      projectName: 'ignored: the project’s name is shown',
      taskName: 'Workshop',
    })
    assert.equal(status, 201, JSON.stringify(json))
    const item = json.item as Json
    assert.deepEqual(
      [
        item.hours,
        item.rateType,
        item.status,
        item.approvalStatus,
        item.employeeId,
        item.projectName,
        item.taskName,
      ],
      [8, 'standard', 'draft', 'draft', 'Seed User', 'DX platform rollout', 'Workshop'],
    )
    assert.equal(item.workDate, new Date().toISOString().slice(0, 10))
    assert.equal(item.submittedAt, undefined)
  })

  it('replays a timesheet creation by Idempotency-Key and refuses a taken id with 409', async () => {
    const body = {
      userName: 'u',
      projectId: 'PRJ-002',
      hours: 3,
      employeeId: 'EMP-9',
      rateType: 'overtime',
      autoSubmit: true,
    }
    const first = await call('POST', '/api/v1/timesheets', body, {'idempotency-key': 'ts-key-1'})
    assert.equal(first.status, 201)
    assert.deepEqual(
      [
        (first.json.item as Json).employeeId,
        (first.json.item as Json).approvalStatus,
        typeof (first.json.item as Json).submittedAt,
      ],
      ['EMP-9', 'submitted', 'string'],
    )
    const replay = await call('POST', '/api/v1/timesheets', body, {'idempotency-key': 'ts-key-1'})
    assert.deepEqual(
      [replay.status, replay.json.idempotent, (replay.json.item as Json).id],
      [200, true, (first.json.item as Json).id],
    )
    const taken = await call('POST', '/api/v1/timesheets', {...body, id: 'TS-001'})
    assert.deepEqual([taken.status, taken.json.error], [409, 'duplicate_timesheet'])
  })

  it('filters timesheets by status or approvalStatus (all is none), with the seed’s meta', async () => {
    const submitted = await call('GET', '/api/v1/timesheets?approvalStatus=submitted')
    const items = submitted.json.items as Json[]
    assert.ok(
      items.length > 0 && items.every((t) => t.status === 'submitted' && t.approvalStatus === 'submitted'),
    )
    assert.deepEqual(
      [
        (submitted.json.meta as Json).status,
        (submitted.json.meta as Json).returned,
        (submitted.json.meta as Json).fallback,
      ],
      ['submitted', items.length, false],
    )
    const all = await call('GET', '/api/v1/timesheets?status=all&limit=2')
    assert.deepEqual([(all.json.items as Json[]).length, (all.json.meta as Json).status], [2, 'all'])
  })

  it('rejects with the seed’s {comment, reasonCode}, resubmits with a comment, approves with one', async () => {
    const rejected = await call('POST', '/api/v1/timesheets/TS-006/reject', {
      comment: 'split the hours',
      reasonCode: 'R-01',
    })
    assert.equal(rejected.status, 200, JSON.stringify(rejected.json))
    const item = rejected.json.item as Json
    assert.deepEqual(
      [item.status, item.approvalStatus, item.note, item.lastReasonCode],
      ['rejected', 'rejected', 'split the hours', 'R-01'],
    )
    const resubmitted = (await call('POST', '/api/v1/timesheets/TS-006/resubmit', {comment: 'split'})).json
      .item as Json
    assert.deepEqual(
      [resubmitted.approvalStatus, resubmitted.note, typeof resubmitted.submittedAt],
      ['submitted', 'split', 'string'],
    )
    const approved = await call('POST', '/api/v1/timesheets/TS-006/approve', {comment: 'ok by me', hours: 7})
    assert.equal(approved.status, 200, JSON.stringify(approved.json))
    assert.deepEqual(
      [
        (approved.json.item as Json).approvalStatus,
        (approved.json.item as Json).note,
        (approved.json.item as Json).hours,
      ],
      ['approved', 'ok by me', 7],
    )
    const event = approvals.find((e) => e.key === 'TS-006') as Envelope & Json
    assert.deepEqual(
      [event.eventId, event.employeeId, event.rateType, event.note, event.hours],
      [approved.json.eventId, 'EMP-1001', 'standard', 'ok by me', 7],
    )
    const bad = await call('POST', '/api/v1/timesheets/TS-007/reject', {reasonCode: 42})
    assert.deepEqual([bad.status, bad.json.field], [400, 'reasonCode'])
  })

  it('lists the seeded compliance invoices with the seed’s fields and sorts by issueDate, updatedAt and amount', async () => {
    const list = async (query: string) => (await call('GET', `/api/v1/compliance/invoices?${query}`)).json
    const byIssue = await list('sortBy=issueDate&sortDir=asc&pageSize=100')
    const items = byIssue.items as Array<Json & {issueDate: string}>
    assert.equal((byIssue.meta as Json).total, seed.invoices.length)
    assert.deepEqual(
      items.map((i) => i.issueDate),
      [...items.map((i) => i.issueDate)].sort(),
    )
    const first = items.find((i) => i.id === 'inv-2024-0001') as Json
    assert.deepEqual(
      [first.invoiceId, first.invoiceNumber, first.counterpartyName, first.amountIncludingTax, first.status],
      ['inv-2024-0001', 'INV-2024-0001', 'Lightning Cloud K.K.', 550000, 'matched'],
    )
    assert.deepEqual(
      (first.attachments as Json[]).map((a) => a.fileName),
      ['INV-2024-0001.pdf', 'INV-2024-0001.xml'],
    )
    const byAmount = (await list('sortBy=amount&sortDir=desc&pageSize=100')).items as Array<{
      amountIncludingTax: number
    }>
    assert.deepEqual(
      byAmount.map((i) => i.amountIncludingTax),
      seed.invoices.map((i) => i.amountIncludingTax).sort((a, b) => b - a),
      'numerically, not as text',
    )
    const byUpdate = (await list('sort_by=updatedAt&sort_dir=desc&limit=2')).items as Json[]
    assert.deepEqual(
      byUpdate.map((i) => i.id),
      ['inv-2024-0004', 'inv-2024-0001'],
    )
    assert.deepEqual(Object.keys(byIssue.meta as Json).sort(), [
      'fallback',
      'fetchedAt',
      'page',
      'pageSize',
      'sortBy',
      'sortDir',
      'total',
      'totalPages',
    ])
  })

  it('filters invoices as the seed’s filterInvoices does, under its names and its aliases', async () => {
    const ids = async (query: string) =>
      (
        (await call('GET', `/api/v1/compliance/invoices?sortBy=issueDate&sortDir=asc&${query}`)).json
          .items as Json[]
      ).map((i) => i.id)
    assert.deepEqual(await ids('status=flagged'), ['inv-2024-0002'])
    assert.deepEqual((await ids('status=all')).length, seed.invoices.length)
    assert.deepEqual(await ids('startDate=2024-09-01&endDate=2024-09-30'), ['inv-2024-0001', 'inv-2024-0002'])
    assert.deepEqual(await ids('issued_from=2024-09-26'), ['inv-2024-0002', 'inv-2024-0004'])
    assert.deepEqual(await ids('minAmount=500000&maxAmount=900000'), ['inv-2024-0001', 'inv-2024-0004'])
    assert.deepEqual(await ids('min_total=1000000'), ['inv-2024-0003'])
    assert.deepEqual(await ids('keyword=energy'), ['inv-2024-0002'])
    assert.deepEqual(await ids('search=PO-2024-222'), ['inv-2024-0001'])
    assert.deepEqual(await ids('keyword=laptop&minAmount='), ['inv-2024-0003'], 'an empty field is no filter')
    for (const query of ['startDate=yesterday', 'minAmount=-1', 'sortBy=price', 'pageSize=0']) {
      const {status, json} = await call('GET', `/api/v1/compliance/invoices?${query}`)
      assert.deepEqual([status, json.error], [400, 'validation_failed'], query)
    }
  })

  it('answers an allowed origin with CORS headers and its preflight with 204', async () => {
    const origin = 'http://ui.example:4000'
    const get = await call('GET', '/api/v1/projects', undefined, {origin})
    assert.equal(get.headers['access-control-allow-origin'], origin)
    const preflight = await call('OPTIONS', '/api/v1/timesheets/TS-001/approve', undefined, {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,idempotency-key,x-user-id',
    })
    assert.equal(preflight.status, 204)
    assert.equal(preflight.headers['access-control-allow-origin'], origin)
    assert.match(String(preflight.headers['access-control-allow-methods']), /POST/)
    assert.match(String(preflight.headers['access-control-allow-headers']), /Idempotency-Key/)
    const stranger = await call('GET', '/api/v1/projects', undefined, {origin: 'http://evil.example'})
    assert.equal(stranger.headers['access-control-allow-origin'], undefined)
  })

  it('never answers CORS on admin routes, however the path is spelt', async () => {
    const origin = 'http://ui.example:4000'
    for (const url of ['/admin/reset', '/%61dmin/reset', '//admin/reset']) {
      const preflight = await call('OPTIONS', url, undefined, {
        origin,
        'access-control-request-method': 'POST',
      })
      assert.notEqual(preflight.status, 204, url)
      assert.equal(preflight.headers['access-control-allow-origin'], undefined, url)
      const post = await call('POST', url, undefined, {origin})
      assert.equal(post.headers['access-control-allow-origin'], undefined, url)
    }
  })
})
