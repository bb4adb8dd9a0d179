import assert from 'node:assert/strict'
import {rmSync} from 'node:fs'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import {after, before, describe, it} from 'node:test'
import {readEventStream} from '../../src/checks/event-stream.js'
import type {Envelope} from '../../src/contract/envelope.js'
import {maxQueryDepth, maxQueryTokens} from '../../src/services/pm/graphql.js'
import {registerPmRoutes} from '../../src/services/pm/routes.js'
import {PmStore} from '../../src/services/pm/store.js'
import {TelemetryStore} from '../../src/services/pm/telemetry.js'
import type {PublishRequest} from '../../src/services/shared/bus.js'
import {close, createHttpServer, listen} from '../../src/services/shared/http.js'
import {createLogger} from '../../src/services/shared/logger.js'
import {createRegistry} from '../../src/services/shared/metrics.js'
import {SseHub} from '../../src/services/shared/sse.js'
import {pmStores} from './pm-stores.js'
import {makeHome, repoRoot} from '../helpers.js'

type Json = Record<string, unknown>
interface Answer {
  status: number
  body: {data?: Json | null; errors?: Array<{message: string; extensions?: Json; path?: string[]}>}
}

/** pm's GraphQL API (issue 17) in process: the seed's schema over the same commands as REST. */
describe('pm GraphQL', () => {
  const dir = makeHome('pmgraphql')
  const seedFile = path.join(repoRoot, 'fixtures/pm/seed.json')
  const logger = createLogger('pm', 'silent')
  const metricsHub = new SseHub()
  const telemetryHub = new SseHub<Record<string, unknown>>()
  const approvals: Envelope[] = []
  const published: PublishRequest[] = []
  const bodyLimitBytes = 64 * 1024
  const app = createHttpServer({service: 'pm', logger, registry: createRegistry('pm'), bodyLimitBytes})
  let url = ''

  before(async () => {
    registerPmRoutes(app, {
      ...(await pmStores(dir, seedFile, logger)),
      // A broker confirm takes a while: the window in which a second approval could slip in.
      publisher: {
        publishToShard: async (envelope) => {
          await delay(20)
          approvals.push(envelope)
          return {shard: 3}
        },
        publish: async (request) => {
          published.push(request)
          return {status: 'confirmed'}
        },
      },
      metricsHub,
      telemetryHub,
      seedFile,
      // Long enough that the summary is one cached value for the whole comparison.
      metricsCacheMs: 60_000,
      idempotencyStats: () => ({ttlMs: 1000}),
      graphiql: true,
    })
    url = (await listen(app, {port: 0})).url
  })

  after(async () => {
    metricsHub.close()
    telemetryHub.close()
    await close(app, 100)
    rmSync(dir, {recursive: true, force: true})
  })

  const gql = async (
    query: string,
    variables?: Json,
    headers: Record<string, string> = {},
  ): Promise<Answer> => {
    const response = await app.inject({method: 'POST', url: '/graphql', headers, payload: {query, variables}})
    return {status: response.statusCode, body: response.json() as Answer['body']}
  }
  const data = async (query: string, variables?: Json): Promise<Json> => {
    const answer = await gql(query, variables)
    assert.equal(answer.status, 200, JSON.stringify(answer.body))
    assert.equal(answer.body.errors, undefined)
    return answer.body.data as Json
  }
  const refused = async (answer: Answer | Promise<Answer>, status: number, code: string) => {
    const {status: got, body} = await answer
    assert.equal(got, status, JSON.stringify(body))
    assert.ok(body.errors && body.errors.length > 0, 'GraphQL errors')
    assert.equal(body.errors[0]?.extensions?.code, code, JSON.stringify(body.errors))
    assert.equal(typeof body.errors[0]?.message, 'string')
    return body
  }

  describe('queries', () => {
    it('metricsSummary is what /metrics/summary and the first /metrics/stream event give', async () => {
      const viaGraphql = (
        await data(
          '{ metricsSummary { projects timesheets invoices events idempotency cachedAt cacheTtlMs stale } }',
        )
      ).metricsSummary
      const viaRest = (await app.inject({method: 'GET', url: '/metrics/summary'})).json() as Json
      const controller = new AbortController()
      let first: Json | undefined
      for await (const event of readEventStream(`${url}/metrics/stream`, {signal: controller.signal})) {
        first = JSON.parse(event.data) as Json
        controller.abort()
      }
      assert.deepEqual(viaGraphql, viaRest)
      assert.deepEqual(first, viaRest)
      assert.deepEqual((viaRest as {projects: Json}).projects, {active: 2, planned: 1, onhold: 1, closed: 1})
    })

    it('lists projects with the seed’s filters and cursor paging (24 a page unless first says)', async () => {
      const query = `query Page($first: Int, $after: String, $tag: String, $manager: String) {
        projects(status: "all", first: $first, after: $after, tag: $tag, manager: $manager) {
          items { id code name projectCode clientName status startOn endOn manager health tags }
          meta { total returned fetchedAt fallback }
          pageInfo { endCursor hasNextPage }
        }
      }`
      type Page = {
        items: Json[]
        meta: {total: number; returned: number; fallback: boolean}
        pageInfo: {endCursor: string | null; hasNextPage: boolean}
      }
      const all = (await data(query)).projects as Page
      assert.deepEqual([all.meta.total, all.meta.returned, all.meta.fallback], [5, 5, false])
      const firstPage = (await data(query, {first: 3})).projects as Page
      assert.deepEqual(firstPage.pageInfo, {endCursor: 'PRJ-003', hasNextPage: true})
      const rest = (await data(query, {first: 3, after: firstPage.pageInfo.endCursor})).projects as Page
      assert.deepEqual(
        rest.items.map((p) => p.id),
        ['PRJ-004', 'PRJ-005'],
      )
      assert.equal(rest.pageInfo.hasNextPage, false)
      const tagged = (await data(query, {tag: 'dx', manager: 'yamada'})).projects as Page
      assert.deepEqual(
        tagged.items.map((p) => [p.id, p.code, p.projectCode, p.manager, p.tags]),
        [['PRJ-001', 'DX-2025-01', 'DX-2025-01', 'Yamada Taro', ['DX', 'Priority']]],
      )
      assert.equal(all.items.find((p) => p.id === 'PRJ-005')?.endOn, '2024-12-31')
    })

    it('lists timesheets by keyword, user and project code, in the seed’s shape', async () => {
      const rows = (
        await data(
          `query($userName: String, $projectCode: String) {
            timesheets(userName: $userName, projectCode: $projectCode) {
              id userName employeeId projectCode projectName taskName workDate hours approvalStatus status note submittedAt rateType
            }
          }`,
          {userName: 'SAT', projectCode: 'dx-2025-01'},
        )
      ).timesheets as Json[]
      assert.deepEqual(
        rows.map((t) => [t.id, t.userName, t.employeeId, t.projectName, t.approvalStatus]),
        [['TS-001', 'sato', 'EMP-1001', 'DX platform rollout', 'submitted']],
      )
      const byKeyword = (await data('{ timesheets(keyword: "crm", status: "all") { projectCode } }'))
        .timesheets as Json[]
      assert.ok(byKeyword.length > 0 && byKeyword.every((t) => t.projectCode === 'CRM-2025-02'))
    })

    it('lists compliance invoices with their attachments, filtered and sorted as REST does', async () => {
      const filter = {
        status: 'all',
        minAmount: 100000,
        sortBy: 'amount',
        sortDir: 'asc',
        page: 1,
        pageSize: 2,
      }
      const result = (
        await data(
          `query($filter: ComplianceInvoiceFilterInput) {
            complianceInvoices(filter: $filter) {
              items { id invoiceNumber counterpartyName issueDate amountIncludingTax status attachments { id kind fileName storageKey downloadUrl } }
              meta { total page pageSize totalPages sortBy sortDir fetchedAt fallback }
            }
          }`,
          {filter},
        )
      ).complianceInvoices as {items: Json[]; meta: Json}
      const rest = (
        await app.inject({
          method: 'GET',
          url: '/api/v1/compliance/invoices?status=all&minAmount=100000&sortBy=amount&sortDir=asc&page=1&pageSize=2',
        })
      ).json() as {items: Json[]; meta: Json}
      assert.deepEqual(
        result.items.map((i) => i.id),
        rest.items.map((i) => i.id),
      )
      assert.deepEqual(
        result.items.map((i) => i.amountIncludingTax),
        [118800, 330000],
      )
      assert.deepEqual(
        (result.items[0]?.attachments as Json[]).map((a) => [a.fileName, a.storageKey, a.downloadUrl]),
        [
          ['INV-2024-0002.pdf', 'compliance/inv-2024-0002/INV-2024-0002.pdf', null],
          ['meter-reading.png', 'compliance/inv-2024-0002/meter-reading.png', null],
        ],
      )
      assert.deepEqual({...result.meta, fetchedAt: 'x'}, {...rest.meta, fetchedAt: 'x'})
      const invoices = (await data('{ invoices(status: "flagged", limit: 5) { id } }')).invoices as Json[]
      assert.deepEqual(invoices, [{id: 'inv-2024-0002'}])
    })

    it('gives the recent events, newest first', async () => {
      await data('mutation { createProject(input: {code: "EV-1", name: "Events"}) { ok } }')
      const events = (await data('{ recentEvents(limit: 1) }')).recentEvents as Json[]
      assert.equal(events.length, 1)
      assert.equal(events[0]?.type, 'project.created')
    })
  })

  describe('mutations', () => {
    it('creates a project once per idempotencyKey, publishing pm.project.created once', async () => {
      const mutation = `mutation($input: CreateProjectInput!) {
        createProject(input: $input) { ok error message eventId project { id code name status health tags } }
      }`
      const input = {
        code: 'GQL-1',
        name: 'GraphQL',
        status: 'planned',
        tags: ['a'],
        idempotencyKey: 'gql-proj-1',
      }
      const first = (await data(mutation, {input})).createProject as Json
      assert.equal(first.ok, true)
      const project = first.project as Json
      assert.deepEqual([project.code, project.health, project.tags], ['GQL-1', 'green', ['a']])
      const replay = (await data(mutation, {input})).createProject as Json
      assert.deepEqual([replay.ok, (replay.project as Json).id], [true, project.id])
      assert.match(replay.message as string, /idempotent/)
      const events = published.filter(
        (r) => r.envelope.type === 'pm.project.created' && r.envelope.key === project.id,
      )
      assert.equal(events.length, 1)
      assert.equal(events[0]?.envelope.eventId, first.eventId)
      const duplicate = (await data(mutation, {input: {code: 'GQL-1', name: 'Again'}})).createProject as Json
      assert.deepEqual([duplicate.ok, duplicate.error, duplicate.project], [false, 'duplicate_project', null])
    })

    it('transitions a project, cancels one (publishing), and answers what the state refuses as ok: false', async () => {
      const transition = `mutation($input: ProjectTransitionInput!) {
        projectTransition(input: $input) { ok error message eventId project { id status endOn cancelledAt } }
      }`
      const activated = (await data(transition, {input: {code: 'GQL-1', action: 'activate'}}))
        .projectTransition as Json
      assert.deepEqual([activated.ok, (activated.project as Json).status], [true, 'active'])
      const cancelled = (await data(transition, {input: {code: 'GQL-1', action: 'cancel'}}))
        .projectTransition as Json
      assert.equal(cancelled.ok, true)
      assert.equal((cancelled.project as Json).status, 'closed')
      const events = published.filter((r) => r.envelope.type === 'pm.project.cancelled')
      assert.equal(events.at(-1)?.envelope.eventId, cancelled.eventId)
      const notAllowed = (await data(transition, {input: {code: 'GQL-1', action: 'resume'}}))
        .projectTransition as Json
      assert.deepEqual([notAllowed.ok, notAllowed.error], [false, 'action_not_allowed'])
      const missing = (await data(transition, {input: {projectId: 'PRJ-404', action: 'close'}}))
        .projectTransition as Json
      assert.deepEqual([missing.ok, missing.error], [false, 'project_not_found'])
      await refused(
        gql(transition, {input: {projectId: 'PRJ-001', action: 'explode'}}),
        400,
        'unknown_action',
      )
      await refused(gql(transition, {input: {action: 'close'}}), 400, 'validation_failed')
    })

    it('creates a timesheet (autoSubmit, the seed’s defaults) once per idempotencyKey', async () => {
      const mutation = `mutation($input: CreateTimesheetInput!) {
        createTimesheet(input: $input) { ok message timesheet { id approvalStatus hours rateType submittedAt projectName } }
      }`
      const input = {
        userName: 'gql',
        projectCode: 'CRM-2025-02',
        autoSubmit: true,
        idempotencyKey: 'gql-ts-1',
      }
      const first = (await data(mutation, {input})).createTimesheet as Json
      const timesheet = first.timesheet as Json
      assert.deepEqual(
        [first.ok, timesheet.approvalStatus, timesheet.hours, timesheet.rateType, timesheet.projectName],
        [true, 'submitted', 8, 'standard', 'CRM migration'],
      )
      assert.equal(typeof timesheet.submittedAt, 'string')
      const replay = (await data(mutation, {input})).createTimesheet as Json
      assert.equal((replay.timesheet as Json).id, timesheet.id)
      assert.match(replay.message as string, /idempotent/)
    })

    it('approves through the same path as REST: one event for racing approvals, the replay answers it', async () => {
      const id = 'TS-003'
      const approve = (key: string) =>
        gql(
          `mutation($input: TimesheetActionInput!) {
            timesheetAction(input: $input) { ok error eventId shard timesheet { id approvalStatus note } }
          }`,
          {input: {timesheetId: id, action: 'approve', comment: 'fine', idempotencyKey: key}},
        )
      const viaRest = (key: string) =>
        app.inject({
          method: 'POST',
          url: `/api/v1/timesheets/${id}/approve`,
          headers: {'idempotency-key': key},
        })
      const answers = await Promise.all([
        ...Array.from({length: 5}, (_, i) => approve(`gql-race-${i}`)),
        ...Array.from({length: 5}, (_, i) => viaRest(`rest-race-${i}`)),
      ])
      const graphqlOk = answers
        .slice(0, 5)
        .map((a) => (a as Answer).body.data?.timesheetAction as Json)
        .filter((p) => p.ok)
      const restOk = answers.slice(5).filter((a) => (a as {statusCode: number}).statusCode === 200)
      assert.equal(graphqlOk.length + restOk.length, 1, 'one approval wins')
      const mine = approvals.filter((e) => e.key === id)
      assert.equal(mine.length, 1, 'published exactly once')
      for (const lost of answers.slice(0, 5).map((a) => (a as Answer).body.data?.timesheetAction as Json)) {
        if (!lost.ok) assert.equal(lost.error, 'action_not_allowed')
      }
      const winnerKey = mine[0]?.idempotencyKey as string
      const replay = winnerKey.startsWith('gql-')
        ? ((await approve(winnerKey)).body.data?.timesheetAction as Json)
        : {ok: true, eventId: ((await viaRest(winnerKey)).json() as Json).eventId}
      assert.deepEqual([replay.ok, replay.eventId], [true, mine[0]?.eventId])
      assert.equal(approvals.filter((e) => e.key === id).length, 1, 'the replay publishes nothing')
    })

    it('a GraphQL approval carries the comment and the seed’s fields, with the Idempotency-Key header as key', async () => {
      const answer = await gql(
        `mutation { timesheetAction(input: {timesheetId: "TS-004", action: "approve", comment: "by header", hours: 4}) {
          ok eventId shard timesheet { approvalStatus note hours }
        } }`,
        undefined,
        {'idempotency-key': 'header-key-4'},
      )
      const result = answer.body.data?.timesheetAction as Json
      assert.deepEqual(
        [result.ok, result.shard, (result.timesheet as Json).note, (result.timesheet as Json).hours],
        [true, 3, 'by header', 4],
      )
      const event = approvals.find((e) => e.key === 'TS-004') as Envelope & Json
      assert.deepEqual(
        [event.eventId, event.idempotencyKey, event.note, event.hours, event.employeeId, event.approvedBy],
        [result.eventId, 'header-key-4', 'by header', 4, 'EMP-1004', 'M-API'],
      )
    })

    it('rejects with a reasonCode, and answers an unknown timesheet as ok: false', async () => {
      const reject = (await data(
        'mutation { timesheetAction(input: {timesheetId: "TS-005", action: "reject", comment: "no", reasonCode: "R-9"}) { ok timesheet { approvalStatus note } } }',
      )) as {timesheetAction: {ok: boolean; timesheet: Json}}
      assert.deepEqual(reject.timesheetAction.timesheet, {approvalStatus: 'rejected', note: 'no'})
      const unknown = (await data(
        'mutation { timesheetAction(input: {timesheetId: "TS-404", action: "submit"}) { ok error message } }',
      )) as {timesheetAction: Json}
      assert.deepEqual(
        [unknown.timesheetAction.ok, unknown.timesheetAction.error],
        [false, 'timesheet_not_found'],
      )
    })
  })

  describe('errors: REST’s contract, never a 500', () => {
    it('a syntax error is 400 graphql_syntax_error', async () => {
      await refused(gql('{ projects { items { id }'), 400, 'graphql_syntax_error')
    })

    it('an unknown field is 400 graphql_validation_failed', async () => {
      const body = await refused(gql('{ projects { items { nope } } }'), 400, 'graphql_validation_failed')
      assert.match(body.errors?.[0]?.message ?? '', /Cannot query field "nope"/)
      assert.equal(body.data, null)
    })

    it('a variable of the wrong type is 400 graphql_validation_failed', async () => {
      await refused(
        gql('query($f: Int) { projects(first: $f) { meta { total } } }', {f: 'many'}),
        400,
        'graphql_validation_failed',
      )
    })

    it(`a query deeper than ${maxQueryDepth} is 400 query_too_deep; GraphiQL's introspection is not`, async () => {
      const ofType = (n: number): string => (n === 0 ? 'name' : `name ofType { ${ofType(n - 1)} }`)
      await refused(
        gql(`{ __type(name: "Project") { fields { type { ${ofType(maxQueryDepth)} } } } }`),
        400,
        'query_too_deep',
      )
      const {getIntrospectionQuery} = await import('graphql')
      const introspection = await gql(
        getIntrospectionQuery({descriptions: true, inputValueDeprecation: true}),
      )
      assert.equal(introspection.status, 200, JSON.stringify(introspection.body.errors))
    })

    it('a query past the cost limit is 400 query_too_complex, one past the token limit 400 query_too_large', async () => {
      const page = (i: number) =>
        `p${i}: projects(first: 100) { items { id code name clientName status startOn manager health tags } }`
      await refused(
        gql(`{ ${Array.from({length: 10}, (_, i) => page(i)).join(' ')} }`),
        400,
        'query_too_complex',
      )
      const fields = Array.from({length: maxQueryTokens}, (_, i) => `a${i}: __typename`).join(' ')
      await refused(gql(`{ ${fields} }`), 400, 'query_too_large')
    })

    it('bad input is 400 with REST’s code and field', async () => {
      const body = await refused(
        gql(
          'mutation { createTimesheet(input: {userName: "u", projectCode: "DX-2025-01", hours: 30}) { ok } }',
        ),
        400,
        'validation_failed',
      )
      assert.equal(body.errors?.[0]?.extensions?.field, 'hours')
      assert.deepEqual(body.errors?.[0]?.path, ['createTimesheet'])
      await refused(gql('{ projects(first: 0) { meta { total } } }'), 400, 'validation_failed')
      await refused(
        gql('{ projects(first: 2, after: "PRJ-404") { meta { total } } }'),
        400,
        'validation_failed',
      )
      await refused(
        gql('{ complianceInvoices(filter: {sortBy: "price"}) { meta { total } } }'),
        400,
        'validation_failed',
      )
      await refused(
        gql('mutation { createProject(input: {code: "K", name: "k", idempotencyKey: "a\\u0001b"}) { ok } }'),
        400,
        'invalid_idempotency_key',
      )
      await refused(
        gql('mutation($i: TimesheetActionInput!) { timesheetAction(input: $i) { ok } }', {
          i: {timesheetId: 'TS-007', action: 'reject', reasonCode: 'x'.repeat(65)},
        }),
        400,
        'validation_failed',
      )
    })

    it('the body is held to REST’s rules: malformed JSON 400, over the limit 413, nested too deep 400', async () => {
      const post = (payload: string) =>
        app.inject({method: 'POST', url: '/graphql', headers: {'content-type': 'application/json'}, payload})
      const parse = (r: {statusCode: number; json(): unknown}) => ({
        status: r.statusCode,
        body: r.json() as Answer['body'],
      })
      await refused(parse(await post('{"query": ')), 400, 'invalid_json')
      await refused(
        parse(
          await post(JSON.stringify({query: `{ __typename }`, variables: {x: 'y'.repeat(bodyLimitBytes)}})),
        ),
        413,
        'payload_too_large',
      )
      const deep = `${'['.repeat(100)}${']'.repeat(100)}`
      await refused(
        parse(await post(`{"query": "{ __typename }", "variables": {"x": ${deep}}}`)),
        400,
        'nesting_too_deep',
      )
    })

    const hostile: Array<[string, unknown]> = [
      ['a number as query', {query: 7}],
      ['JSON text as query', {query: '{}'}],
      ['a null query', {query: null}],
      ['no query', {}],
      ['an array body (a batch)', [{query: '{ __typename }'}]],
      ['a string body', 'x'],
      ['variables as a string', {query: '{ __typename }', variables: 'x'}],
      ['a number as operationName', {query: '{ __typename }', operationName: 5}],
      ['two operations without a name', {query: 'query A { __typename } query B { __typename }'}],
      ['an unknown operation', {query: 'query A { __typename }', operationName: 'Z'}],
      ['a subscription', {query: 'subscription { x }'}],
      ['an Int out of range', {query: '{ recentEvents(limit: 99999999999) }'}],
      ['a null in a list of non-nulls', {query: '{ projects(tags: [null]) { meta { total } } }'}],
    ]
    for (const [name, body] of hostile) {
      it(`answers ${name} with a 4xx and GraphQL errors`, async () => {
        const response = await app.inject({
          method: 'POST',
          url: '/graphql',
          headers: {'content-type': 'application/json'},
          payload: JSON.stringify(body),
        })
        assert.ok(
          response.statusCode >= 400 && response.statusCode < 500,
          `${response.statusCode} ${response.body}`,
        )
        const answer = response.json() as Answer['body']
        assert.equal(typeof answer.errors?.[0]?.extensions?.code, 'string', response.body)
        assert.notEqual(answer.errors?.[0]?.extensions?.code, 'internal')
      })
    }

    it('a mutation over GET is 405, a query over GET answers', async () => {
      const mutation = await app.inject({
        method: 'GET',
        url: `/graphql?query=${encodeURIComponent('mutation { createProject(input: {code: "G", name: "g"}) { ok } }')}`,
      })
      await refused(
        {status: mutation.statusCode, body: mutation.json() as Answer['body']},
        405,
        'method_not_allowed',
      )
      const query = await app.inject({
        method: 'GET',
        url: `/graphql?query=${encodeURIComponent('{ metricsSummary { events } }')}`,
      })
      assert.equal(query.statusCode, 200, query.body)
    })

    it('answers a browser’s preflight for /graphql, and serves GraphiQL outside production', async () => {
      const preflight = await app.inject({
        method: 'OPTIONS',
        url: '/graphql',
        headers: {origin: 'http://localhost:4000', 'access-control-request-method': 'POST'},
      })
      assert.equal(preflight.statusCode, 204)
      assert.equal(preflight.headers['access-control-allow-origin'], 'http://localhost:4000')
      const ide = await app.inject({method: 'GET', url: '/graphiql'})
      assert.equal(ide.statusCode, 200)
      assert.match(String(ide.headers['content-type']), /text\/html/)
    })
  })
})

describe('pm GraphQL in production', () => {
  it('serves no GraphiQL', async () => {
    const dir = makeHome('pmgraphql-prod')
    const seedFile = path.join(repoRoot, 'fixtures/pm/seed.json')
    const logger = createLogger('pm', 'silent')
    const app = createHttpServer({service: 'pm', logger, registry: createRegistry('pm')})
    const hubs = [new SseHub(), new SseHub<Record<string, unknown>>()] as const
    try {
      registerPmRoutes(app, {
        store: await PmStore.open(path.join(dir, 'pm.json'), seedFile, logger),
        telemetry: new TelemetryStore({logPath: path.join(dir, 't.log'), maxLogBytes: 1e6, maxArchives: 3}),
        publisher: {publishToShard: async () => ({shard: 0}), publish: async () => ({})},
        metricsHub: hubs[0],
        telemetryHub: hubs[1],
        seedFile,
        metricsCacheMs: 5000,
        idempotencyStats: () => ({}),
        graphiql: false,
      })
      assert.equal((await app.inject({method: 'GET', url: '/graphiql'})).statusCode, 404)
      const answer = await app.inject({
        method: 'POST',
        url: '/graphql',
        payload: {query: '{ metricsSummary { events } }'},
      })
      assert.equal(answer.statusCode, 200)
    } finally {
      for (const hub of hubs) hub.close()
      await app.close()
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
