import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import amqp from 'amqplib'
import {shardOf} from '../../src/contract/shard.js'
import type {StatusResult, UpResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.services
const pm = `http://127.0.0.1:${3001 + offset}`
const amqpUrl = `amqp://guest:guest@127.0.0.1:${5672 + offset}`

async function call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${pm}${route}`, {
    method,
    headers: body === undefined ? headers : {'content-type': 'application/json', ...headers},
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await response.text()
  return {status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined}
}

describe('pm on the real stack', {timeout: 300_000}, () => {
  const home = makeHome('pm')

  before(async () => {
    const up = await upStack(home, offset, 'pm')
    assert.deepEqual(
      up.components.map((c) => [c.name, c.state]),
      [
        ['rabbitmq', 'healthy'],
        ['redis', 'healthy'],
        ['pm', 'healthy'],
      ],
    )
  })

  after(() => cleanup(home))

  it('approving a timesheet publishes pm.timesheet.approved to its shard, durably and exactly as SPEC §3 says', async () => {
    const answer = await call('POST', '/api/v1/timesheets/TS-001/approve')
    assert.equal(answer.status, 200, JSON.stringify(answer.json))
    const shard = shardOf('TS-001', 4)
    assert.equal(answer.json?.shard, shard)
    assert.equal((answer.json?.item as {status: string}).status, 'approved')

    const connection = await amqp.connect(amqpUrl)
    try {
      const channel = await connection.createChannel()
      const message = await channel.get(`shard.${shard}`, {noAck: true})
      assert.ok(message, `a message in shard.${shard}`)
      assert.equal(message.properties.messageId, answer.json?.eventId)
      assert.equal(message.properties.deliveryMode, 2)
      assert.equal(message.properties.contentType, 'application/json')
      assert.equal(message.properties.headers?.type, 'pm.timesheet.approved')
      assert.equal(message.properties.headers?.idempotencyKey, 'timesheet-approved:TS-001')
      const envelope = JSON.parse(message.content.toString()) as {key: string; payload: {timesheetId: string}}
      assert.equal(envelope.key, 'TS-001')
      assert.equal(envelope.payload.timesheetId, 'TS-001')
    } finally {
      await connection.close()
    }
    // The same (default) key again is a replay of that approval; another key is a second approval.
    const again = await call('POST', '/api/v1/timesheets/TS-001/approve')
    assert.deepEqual(
      [again.status, again.json?.eventId, again.json?.idempotent],
      [200, answer.json?.eventId, true],
    )
    const other = await call('POST', '/api/v1/timesheets/TS-001/approve', undefined, {
      'idempotency-key': 'k2',
    })
    assert.deepEqual([other.status, other.json?.error], [409, 'action_not_allowed'])
  })

  it('approving through GraphQL publishes once to the shard; project events reach `domain`', async () => {
    const connection = await amqp.connect(amqpUrl)
    try {
      const channel = await connection.createChannel()
      const tap = await channel.assertQueue('', {exclusive: true})
      await channel.bindQueue(tap.queue, 'domain', 'pm.project.*')
      const shard = shardOf('TS-002', 4)
      await channel.purgeQueue(`shard.${shard}`)
      const graphql = (query: string) => call('POST', '/graphql', {query})
      const approve = () =>
        graphql(
          'mutation { timesheetAction(input: {timesheetId: "TS-002", action: "approve", idempotencyKey: "gql-int"}) { ok eventId shard } }',
        )
      const [first, second] = await Promise.all([approve(), approve()])
      const results = [first, second].map(
        (a) =>
          (a.json?.data as {timesheetAction: {ok: boolean; eventId: string; shard: number}}).timesheetAction,
      )
      assert.deepEqual(
        results.map((r) => [r.ok, r.shard]),
        [
          [true, shard],
          [true, shard],
        ],
      )
      assert.equal(results[0]?.eventId, results[1]?.eventId, 'the second is the replay of the first')
      const messages = []
      for (let message = await channel.get(`shard.${shard}`, {noAck: true}); message;) {
        messages.push(message)
        message = await channel.get(`shard.${shard}`, {noAck: true})
      }
      assert.deepEqual(
        messages.map((m) => [m.properties.messageId, m.properties.headers?.idempotencyKey]),
        [[results[0]?.eventId, 'gql-int']],
        'exactly one message',
      )

      const created = await graphql(
        'mutation { createProject(input: {code: "GQL-INT", name: "int"}) { ok project { id } } }',
      )
      const projectId = (created.json?.data as {createProject: {project: {id: string}}}).createProject.project
        .id
      const cancelled = await call('POST', `/projects/${projectId}/cancel`)
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.json))
      const got: Array<{type: string; key: string}> = []
      const deadline = Date.now() + 10_000
      while (got.length < 2 && Date.now() < deadline) {
        const message = await channel.get(tap.queue, {noAck: true})
        if (message) got.push(JSON.parse(message.content.toString()) as {type: string; key: string})
        else await new Promise((resolve) => setTimeout(resolve, 100))
      }
      assert.deepEqual(got, [
        {...got[0], type: 'pm.project.created', key: projectId},
        {...got[1], type: 'pm.project.cancelled', key: projectId},
      ])
    } finally {
      await connection.close()
    }
  })

  it('answers a syntax error in GraphQL with 400, never 5xx', async () => {
    const answer = await call('POST', '/graphql', {query: '{ projects {'})
    assert.equal(answer.status, 400)
    assert.equal(
      (answer.json?.errors as Array<{extensions: {code: string}}>)[0]?.extensions.code,
      'graphql_syntax_error',
    )
  })

  it('answers bad input from the real process with 4xx, never 5xx', async () => {
    assert.equal((await call('POST', '/api/v1/projects', '{"projectCode":')).status, 400)
    assert.equal((await call('GET', '/nope')).status, 404)
  })

  it('keeps every acknowledged change across kill -9, and poc up restarts it', async () => {
    const created = await call('POST', '/api/v1/projects', {projectCode: 'KILL-1', projectName: 'survives'})
    assert.equal(created.status, 201)
    const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    const pid = status.components.find((c) => c.name === 'pm')?.pids[0] as number
    process.kill(pid, 'SIGKILL')
    const up = await runPoc(home, ['up', '--only', 'pm', '--json'])
    assert.equal(up.exitCode, 0, up.stdout + up.stderr)
    assert.equal(parseJson<UpResult>(up).components.find((c) => c.name === 'pm')?.action, 'restarted')
    const projects = await call('GET', '/api/v1/projects')
    assert.ok((projects.json?.items as Array<{projectCode: string}>).some((p) => p.projectCode === 'KILL-1'))
    const timesheets = await call('GET', '/api/v1/timesheets?status=approved')
    assert.ok((timesheets.json?.items as Array<{id: string}>).some((t) => t.id === 'TS-001'))
  })
})
