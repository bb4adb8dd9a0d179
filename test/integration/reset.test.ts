import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import amqp from 'amqplib'
import {Redis} from 'ioredis'
import {countBy} from '../../src/services/pm/domain.js'
import type {ResetMode, ResetResult} from '../../src/stack/reset.js'
import {cleanup, makeHome, parseJson, repoRoot, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.reset
const url = {
  pm: `http://127.0.0.1:${3001 + offset}`,
  fi: `http://127.0.0.1:${3002 + offset}`,
  sales: `http://127.0.0.1:${3003 + offset}`,
  credit: `http://127.0.0.1:${3004 + offset}`,
  contract: `http://127.0.0.1:${3006 + offset}`,
}
const amqpUrl = `amqp://guest:guest@127.0.0.1:${5672 + offset}`
const managementUrl = `http://127.0.0.1:${15672 + offset}/api`
const redisPort = 6379 + offset
const numShards = 4
const run = Date.now().toString(36)

interface Seeded {
  status: string
}
const pmSeed = JSON.parse(readFileSync(path.join(repoRoot, 'fixtures', 'pm', 'seed.json'), 'utf8')) as {
  projects: Seeded[]
  timesheets: Seeded[]
  invoices: Seeded[]
  events: unknown[]
}
const seedSummary = {
  projects: countBy(pmSeed.projects, (p) => p.status),
  timesheets: countBy(pmSeed.timesheets, (t) => t.status),
  invoices: countBy(pmSeed.invoices, (i) => i.status),
  events: pmSeed.events.length,
}
const contractSeed = (
  JSON.parse(readFileSync(path.join(repoRoot, 'fixtures', 'contract', 'seed.json'), 'utf8')) as {
    contracts: Array<Record<string, unknown>>
  }
).contracts

/** The queues our services declare (SPEC §3), each with its dead-letter queue. */
const expectedQueues = [
  ...Array.from({length: numShards}, (_, i) => `shard.${i}`),
  'fi.inbox',
  'pm.inbox',
  'credit.inbox',
].flatMap((queue) => [queue, `${queue}.dead`])

async function call(
  service: keyof typeof url,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{status: number; json: Record<string, unknown>}> {
  const response = await fetch(`${url[service]}${route}`, {
    method,
    headers: body === undefined ? headers : {'content-type': 'application/json', ...headers},
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return {status: response.status, json: (await response.json()) as Record<string, unknown>}
}

async function summary(): Promise<Record<string, unknown>> {
  const answer = await call('pm', 'GET', '/metrics/summary?refresh=true')
  assert.equal(answer.status, 200)
  const {projects, timesheets, invoices, events} = answer.json
  return {projects, timesheets, invoices, events}
}

async function contracts(): Promise<Array<Record<string, unknown>>> {
  const answer = await call('contract', 'GET', '/contracts')
  assert.equal(answer.status, 200)
  return (answer.json.items as Array<Record<string, unknown>>).map(
    ({contractId, customerId, renewalDate, amount}) => ({contractId, customerId, renewalDate, amount}),
  )
}

async function fiInvoices(keyPrefix?: string): Promise<number> {
  const query = keyPrefix ? `?keyPrefix=${encodeURIComponent(keyPrefix)}` : ''
  const answer = await call('fi', 'GET', `/invoices${query}`)
  assert.equal(answer.status, 200)
  return answer.json.total as number
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(100)
  }
}

/** Exact depth of every queue of the broker (AMQP, not the management API's lagging statistics). */
async function queueDepths(): Promise<Record<string, number>> {
  const response = await fetch(`${managementUrl}/queues/%2F?columns=name`, {
    headers: {authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`},
  })
  assert.equal(response.status, 200)
  const names = ((await response.json()) as Array<{name: string}>).map((q) => q.name)
  const connection = await amqp.connect(amqpUrl)
  try {
    const channel = await connection.createChannel()
    const depths: Record<string, number> = {}
    for (const name of names.sort()) depths[name] = (await channel.checkQueue(name)).messageCount
    return depths
  } finally {
    await connection.close()
  }
}

async function deadLetter(queue: string, count: number): Promise<void> {
  const connection = await amqp.connect(amqpUrl)
  try {
    const channel = await connection.createConfirmChannel()
    for (let n = 0; n < count; n++) {
      channel.sendToQueue(queue, Buffer.from(JSON.stringify({eventId: `dead-${run}-${n}`})), {
        persistent: true,
        messageId: `dead-${run}-${n}`,
        contentType: 'application/json',
      })
    }
    await channel.waitForConfirms()
  } finally {
    await connection.close()
  }
}

async function idempotencyKeys(): Promise<string[]> {
  const redis = new Redis({port: redisPort, lazyConnect: true, retryStrategy: () => null})
  await redis.connect()
  try {
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', 'idemp:*', 'COUNT', 1000)
      keys.push(...batch)
      cursor = next
    } while (cursor !== '0')
    return keys
  } finally {
    redis.disconnect()
  }
}

function modes(result: ResetResult): Record<string, ResetMode> {
  return Object.fromEntries(result.steps.map((s) => [s.component, s.mode]))
}

const seedModes = (mode: ResetMode) => ({
  rabbitmq: mode,
  redis: mode,
  pm: mode,
  fi: mode,
  contract: mode,
  sales: mode,
  credit: mode,
  'invoice-worker': mode,
})

/** What every test ends with: the stack holds exactly its seed data and nothing in flight. */
async function assertSeedState(): Promise<void> {
  assert.deepEqual(await summary(), seedSummary)
  assert.equal(await fiInvoices(), 0)
  assert.deepEqual(await contracts(), contractSeed)
  const depths = await queueDepths()
  for (const queue of expectedQueues) assert.ok(queue in depths, `${queue} exists`)
  assert.deepEqual(
    Object.entries(depths).filter(([, depth]) => depth > 0),
    [],
    'every queue is empty',
  )
  assert.deepEqual(await idempotencyKeys(), [])
}

describe('poc reset against the real stack', {timeout: 600_000}, () => {
  const home = makeHome('reset')
  const approvedKey = (n: number) => `reset-${run}-${n}`

  before(async () => {
    await upStack(home, offset)
  })

  after(() => cleanup(home))

  const approveWithKeyFromBeforeTheReset = async () => {
    const approved = await call(
      'pm',
      'POST',
      '/timesheets/approve',
      {timesheetId: 'TS-004', hours: 2},
      {'idempotency-key': approvedKey(0)},
    )
    assert.equal(approved.status, 202, JSON.stringify(approved.json))
    // Had Redis kept idemp:{key}, the worker would skip this as a duplicate and fi stay empty.
    await waitFor('the invoice in fi', async () => (await fiInvoices(approvedKey(0))) === 1)
  }

  it('puts a running stack back to its seed data: pm, fi, contracts, every queue and DLQ, Redis', async () => {
    const project = await call('pm', 'POST', '/api/v1/projects', {
      projectCode: `RST-${run}`,
      projectName: 'reset test',
    })
    assert.equal(project.status, 201, JSON.stringify(project.json))
    const timesheets: string[] = []
    for (let n = 0; n < 2; n++) {
      const created = await call('pm', 'POST', '/api/v1/timesheets', {
        projectCode: `RST-${run}`,
        userName: 'tester',
        hours: 2,
        workDate: '2025-10-01',
        autoSubmit: true,
      })
      assert.equal(created.status, 201, JSON.stringify(created.json))
      timesheets.push((created.json.item as {id: string}).id)
    }
    for (const [n, timesheetId] of timesheets.entries()) {
      const approved = await call(
        'pm',
        'POST',
        '/timesheets/approve',
        {timesheetId, hours: 2},
        {'idempotency-key': approvedKey(n)},
      )
      assert.equal(approved.status, 202, JSON.stringify(approved.json))
    }
    await waitFor('two invoices in fi', async () => (await fiInvoices(`reset-${run}-`)) === 2)
    const order = await call('sales', 'POST', '/sales/orders/confirm', {
      orderId: `ORD-${run}`,
      customerId: 'C-001',
      amount: 100,
    })
    assert.equal(order.status, 202, JSON.stringify(order.json))
    await waitFor('the credit decision in fi', async () => {
      const status = await call('fi', 'GET', `/orders/ORD-${run}/status`)
      return status.json.credit === 'approved'
    })
    assert.equal((await call('credit', 'GET', `/credit/orders/ORD-${run}`)).json.status, 'approved')

    // With the worker stopped, approvals wait in the shard queues.
    const stopped = await runPoc(home, ['down', '--only', 'invoice-worker', '--json'])
    assert.equal(stopped.exitCode, 0, stopped.stdout + stopped.stderr)
    for (const timesheetId of ['TS-001', 'TS-002', 'TS-003']) {
      const approved = await call('pm', 'POST', '/timesheets/approve', {timesheetId, hours: 7})
      assert.equal(approved.status, 202, JSON.stringify(approved.json))
    }
    await deadLetter('shard.0.dead', 2)
    const created = await call('contract', 'POST', '/contracts', {
      contractId: `CT-${run}`,
      customerId: 'C-009',
      renewalDate: '2030-01-01',
      amount: 10,
    })
    assert.equal(created.status, 201, JSON.stringify(created.json))

    // The changes are there before the reset, so the checks after it can fail.
    const before = await queueDepths()
    const waiting = Array.from({length: numShards}, (_, i) => before[`shard.${i}`] ?? 0)
    assert.equal(
      waiting.reduce((a, b) => a + b, 0),
      3,
    )
    assert.equal(before['shard.0.dead'], 2)
    assert.notDeepEqual(await summary(), seedSummary)
    assert.equal(await fiInvoices(), 2)
    assert.equal((await contracts()).length, contractSeed.length + 1)
    assert.equal((await idempotencyKeys()).length, 3, 'two approvals and one credit decision')

    const reset = await runPoc(home, ['reset', '--yes', '--json'])
    assert.equal(reset.exitCode, 0, reset.stdout + reset.stderr)
    const result = parseJson<ResetResult>(reset)
    assert.equal(result.home, home)
    assert.deepEqual(modes(result), {...seedModes('running'), 'invoice-worker': 'stopped'})
    const broker = result.steps.find((s) => s.component === 'rabbitmq')
    assert.match(broker?.detail ?? '', /^5 message\(s\) from \d+ queue\(s\)/)
    assert.equal(result.steps.find((s) => s.component === 'redis')?.detail, '3 key(s) matching idemp:*')
    assert.equal(existsSync(path.join(home, 'data', 'invoice-worker')), false, "the stopped worker's outbox")
    await assertSeedState()
    const order2 = await call('fi', 'GET', `/orders/ORD-${run}/status`)
    assert.equal(order2.json.credit, 'unknown')
    assert.equal(
      (await call('credit', 'GET', `/credit/orders/ORD-${run}`)).status,
      404,
      "credit's order states",
    )
  })

  it('lets an approval with an idempotency key seen before the reset make an invoice again', async () => {
    await upStack(home, offset, 'invoice-worker')
    await approveWithKeyFromBeforeTheReset()
  })

  it('after a smoke run, reset puts the seed state back, and smoke passes again', async () => {
    const first = await runPoc(home, ['smoke', '--json'])
    assert.equal(first.exitCode, 0, first.stdout + first.stderr)
    assert.notDeepEqual(await summary(), seedSummary, 'smoke left its data behind')
    const reset = await runPoc(home, ['reset', '--yes', '--json'])
    assert.equal(reset.exitCode, 0, reset.stdout + reset.stderr)
    await assertSeedState()
    const again = await runPoc(home, ['smoke', '--json'])
    assert.equal(again.exitCode, 0, again.stdout + again.stderr)
    // Leave the seed state for the tests below.
    assert.equal((await runPoc(home, ['reset', '--yes'])).exitCode, 0)
    await assertSeedState()
    await approveWithKeyFromBeforeTheReset()
  })

  it('refuses without --yes when stdin is not a terminal, and changes nothing', async () => {
    const before = await contracts()
    const refused = await runPoc(home, ['reset'])
    assert.equal(refused.exitCode, 2, refused.stdout + refused.stderr)
    assert.match(refused.stderr, /stdin is not a terminal to confirm it: pass --yes/)
    assert.equal(refused.stdout, '')
    assert.equal(await fiInvoices(), 1)
    assert.deepEqual(await contracts(), before)
  })

  it('resets a stopped stack by deleting its data, so poc up starts from the seed data', async () => {
    const created = await call('contract', 'POST', '/contracts', {
      contractId: `CT-stopped-${run}`,
      customerId: 'C-010',
      renewalDate: '2031-01-01',
      amount: 20,
    })
    assert.equal(created.status, 201)
    await deadLetter('shard.1.dead', 1)
    const down = await runPoc(home, ['down', '--json'])
    assert.equal(down.exitCode, 0, down.stdout + down.stderr)

    const reset = await runPoc(home, ['reset', '--yes', '--json'])
    assert.equal(reset.exitCode, 0, reset.stdout + reset.stderr)
    const result = parseJson<ResetResult>(reset)
    assert.deepEqual(modes(result), seedModes('stopped'))
    for (const component of Object.keys(seedModes('stopped')))
      assert.equal(existsSync(path.join(home, 'data', component)), false, `data/${component} is gone`)
    assert.equal(existsSync(path.join(home, 'logs', 'pm.log')), true, 'logs are kept')

    const again = parseJson<ResetResult>(await runPoc(home, ['reset', '--yes', '--json']))
    assert.deepEqual(modes(again), seedModes('absent'), 'a second reset finds nothing left to do')

    await upStack(home, offset)
    await assertSeedState()
  })
})
