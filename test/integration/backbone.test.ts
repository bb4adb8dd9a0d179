import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import {execa} from 'execa'
import {Redis} from 'ioredis'
import type {ProduceResult} from '../../src/checks/produce.js'
import {invoiceIdFor} from '../../src/services/invoice-worker/worker.js'
import {shardOf} from '../../src/contract/shard.js'
import type {DlqListResult, DlqRedriveResult} from '../../src/stack/dlq.js'
import type {DownResult, StatusResult, UpResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, repoRoot, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.backbone
const url = {
  pm: `http://127.0.0.1:${3001 + offset}`,
  fi: `http://127.0.0.1:${3002 + offset}`,
  sales: `http://127.0.0.1:${3003 + offset}`,
  credit: `http://127.0.0.1:${3004 + offset}`,
  contract: `http://127.0.0.1:${3006 + offset}`,
  'invoice-worker': `http://127.0.0.1:${3007 + offset}`,
}
type Service = keyof typeof url

interface Answer {
  status: number
  json: Record<string, unknown> | undefined
}

async function call(
  service: Service,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const send = () =>
    fetch(`${url[service]}${route}`, {
      method,
      headers: body === undefined ? headers : {'content-type': 'application/json', ...headers},
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
  let response: Response
  for (let attempt = 1; ; attempt++) {
    try {
      response = await send()
      break
    } catch (error) {
      // A server refusing an oversized body answers 413 and closes while fetch is still writing
      // it; fetch can then lose the answer to EPIPE. Only that race is retried.
      const code = ((error as {cause?: {code?: string}}).cause ?? {}).code
      const oversized = typeof body === 'string' && body.length > 1024 * 1024
      if (!oversized || !['EPIPE', 'ECONNRESET'].includes(code ?? '') || attempt === 3) throw error
    }
  }
  const text = await response.text()
  let json: Record<string, unknown> | undefined
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined
  } catch {
    json = {unparsable: text}
  }
  return {status: response.status, json}
}

interface Invoice {
  invoiceId: string
  timesheetId: string
  idempotencyKey: string
  note?: string
  processedAtMs: number
}

async function invoicesWithPrefix(prefix: string): Promise<Invoice[]> {
  const answer = await call('fi', 'GET', `/invoices?limit=10000&keyPrefix=${encodeURIComponent(prefix)}`)
  assert.equal(answer.status, 200)
  return answer.json?.items as Invoice[]
}

/** Polls fi until `count` invoices carry the key prefix (fails after the timeout with what it saw). */
async function waitForInvoices(prefix: string, count: number, timeoutMs = 30_000): Promise<Invoice[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const items = await invoicesWithPrefix(prefix)
    if (items.length >= count) return items
    if (Date.now() > deadline) {
      throw new Error(`fi shows ${items.length} of ${count} invoices for ${prefix} after ${timeoutMs} ms`)
    }
    await delay(100)
  }
}

async function pidsOf(home: string, component: string): Promise<number[]> {
  const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
  const pids = status.components.find((c) => c.name === component)?.pids
  assert.ok(pids && pids.length > 0, `${component} has a pid`)
  return pids
}

async function restart(home: string, component: string, env: Record<string, string> = {}): Promise<void> {
  const run = await runPoc(home, ['up', '--only', component, '--json'], env)
  assert.equal(run.exitCode, 0, run.stdout + run.stderr)
  const report = parseJson<UpResult>(run).components.find((c) => c.name === component)
  assert.equal(report?.state, 'healthy')
  assert.ok(
    ['started', 'restarted'].includes(report?.action ?? ''),
    `${component} was started (${report?.action})`,
  )
}

/**
 * `poc produce` in the background, with the component killed (kill -9) 2 s in and started again
 * after `downMs`: every approval must be accepted and every invoice show up in fi.
 */
async function produceThroughKill(
  home: string,
  component: string,
  batch: number,
  rps: number,
  downMs: number,
): Promise<ProduceResult> {
  const producing = runPoc(home, [
    'produce',
    '--batch',
    String(batch),
    '--rps',
    String(rps),
    '--wait',
    '120s',
    '--json',
  ])
  await delay(2000)
  await killComponent(home, component)
  await delay(downMs)
  await restart(home, component)
  const produced = await producing
  assert.equal(produced.exitCode, 0, produced.stdout + produced.stderr)
  const result = parseJson<ProduceResult>(produced)
  assert.equal(result.accepted, batch, `every approval was accepted: ${JSON.stringify(result.failures)}`)
  assert.deepEqual([result.e2e?.visible, result.e2e?.missing], [batch, 0])
  return result
}

/** poc down --only: that component stops, the others keep running. */
async function stopOnly(home: string, component: string): Promise<void> {
  const run = await runPoc(home, ['down', '--only', component, '--json'])
  assert.equal(run.exitCode, 0, run.stdout + run.stderr)
  const result = parseJson<DownResult>(run)
  assert.deepEqual(
    result.stopped.map((c) => c.name),
    [component],
  )
  const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
  const states = Object.fromEntries(status.components.map((c) => [c.name, c.state]))
  assert.equal(states[component], 'stopped')
  assert.equal(states.rabbitmq, 'healthy')
  assert.equal(states.pm, 'healthy')
}

/** kill -9 of a component's whole process group (the recorded pid leads it). */
async function killComponent(home: string, component: string): Promise<void> {
  const [leader] = await pidsOf(home, component)
  process.kill(-(leader as number), 'SIGKILL')
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    if (status.components.find((c) => c.name === component)?.state === 'down') return
    await delay(100)
  }
  throw new Error(`${component} still runs after SIGKILL`)
}

describe('event backbone on the real stack', {timeout: 900_000}, () => {
  const home = makeHome('backbone')
  const run = Date.now().toString(36)

  before(async () => {
    const up = await upStack(home, offset)
    const states = Object.fromEntries(up.components.map((c) => [c.name, c.state]))
    for (const name of ['rabbitmq', 'redis', 'pm', 'fi', 'sales', 'credit', 'contract', 'invoice-worker']) {
      assert.equal(states[name], 'healthy', `${name} is healthy`)
    }
  })

  after(() => cleanup(home))

  it('an approved timesheet yields exactly one invoice, in fi and linked in pm, also when the approval is sent twice with one Idempotency-Key', async () => {
    const key = `approve-twice-${run}`
    const first = await call('pm', 'POST', '/api/v1/timesheets/TS-005/approve', undefined, {
      'idempotency-key': key,
    })
    assert.equal(first.status, 200, JSON.stringify(first.json))
    const second = await call(
      'pm',
      'POST',
      '/timesheets/approve',
      {timesheetId: 'TS-005', hours: 6},
      {'idempotency-key': key},
    )
    assert.equal(second.status, 202, JSON.stringify(second.json))
    assert.notEqual(second.json?.eventId, first.json?.eventId, 'two messages went out')

    const workerLog = path.join(home, 'logs', 'invoice-worker.log')
    const deadline = Date.now() + 20_000
    while (!readFileSync(workerLog, 'utf8').includes(`invoice skipped (duplicate idempotency key ${key})`)) {
      assert.ok(Date.now() < deadline, 'the worker logged the skip of the second message')
      await delay(100)
    }
    const invoices = await waitForInvoices(key, 1)
    assert.equal(invoices.length, 1)
    const invoiceId = invoiceIdFor('TS-005', key)
    assert.equal(invoices[0]?.invoiceId, invoiceId)

    let linked: Answer | undefined
    while (Date.now() < deadline) {
      linked = await call('pm', 'GET', `/api/v1/compliance/invoices?keyword=${invoiceId}`)
      if ((linked.json?.meta as {total: number}).total === 1) break
      await delay(100)
    }
    assert.equal((linked?.json?.meta as {total: number}).total, 1, 'pm linked exactly one invoice')
    const timesheets = await call('pm', 'GET', '/api/v1/timesheets?status=approved')
    const ts = (timesheets.json?.items as Array<{id: string; invoiceId?: string}>).find(
      (t) => t.id === 'TS-005',
    )
    assert.equal(ts?.invoiceId, invoiceId)

    const redis = new Redis(`redis://127.0.0.1:${6379 + offset}`)
    try {
      const ttl = await redis.pttl(`idemp:${key}`)
      assert.ok(ttl > 0 && ttl <= 24 * 3600 * 1000, `idemp:${key} has a TTL (got ${ttl})`)
    } finally {
      redis.disconnect()
    }
  })

  it('Ctrl+C during poc produce exits 130 and still reports what was sent', async () => {
    const producing = execa(
      'node',
      [path.join(repoRoot, 'bin', 'run.js'), 'produce', '--batch', '100000', '--rps', '50', '--json'],
      {
        env: {POC_HOME: home, NO_COLOR: '1'},
        reject: false,
      },
    )
    await delay(1500)
    producing.kill('SIGINT')
    const run = await producing
    assert.equal(run.exitCode, 130, run.stderr)
    const result = JSON.parse(run.stdout) as ProduceResult
    assert.ok(result.sent > 0 && result.sent < 100_000, `sent ${result.sent}`)
  })

  it('kill -9 of the invoice-worker in the middle of 500 approvals loses no invoice and duplicates none', async () => {
    const result = await produceThroughKill(home, 'invoice-worker', 500, 100, 500)
    const invoices = await invoicesWithPrefix(`${result.runId}-`)
    assert.equal(invoices.length, 500)
    assert.equal(new Set(invoices.map((i) => i.idempotencyKey)).size, 500, 'one invoice per approval')
    for (const invoice of invoices) {
      assert.equal(invoice.invoiceId, invoiceIdFor(invoice.timesheetId, invoice.idempotencyKey))
    }
  })

  it('processes the events of one timesheet in publish order, on the seed shard of its key', async () => {
    const timesheetId = `TS-ORDER-${run}`
    const prefix = `order-${run}-`
    for (let i = 0; i < 20; i++) {
      const answer = await call(
        'pm',
        'POST',
        '/timesheets/approve',
        {timesheetId, hours: 1, note: `seq-${String(i).padStart(2, '0')}`},
        {'idempotency-key': `${prefix}${i}`},
      )
      assert.equal(answer.status, 202)
      assert.equal(answer.json?.shard, shardOf(timesheetId, 4))
    }
    const invoices = await waitForInvoices(prefix, 20)
    const processed = invoices.sort((a, b) => a.processedAtMs - b.processedAtMs).map((i) => i.note)
    const published = Array.from({length: 20}, (_, i) => `seq-${String(i).padStart(2, '0')}`)
    assert.deepEqual(processed, published)
  })

  it('FAIL_RATE=1 sends approvals to shard.{i}.dead; poc dlq redrive brings them back and, with FAIL_RATE=0, they are invoiced', async () => {
    const timesheetId = `TS-DLQ-${run}`
    const shard = shardOf(timesheetId, 4)
    const prefix = `dlq-${run}-`
    await stopOnly(home, 'invoice-worker')
    await restart(home, 'invoice-worker', {FAIL_RATE: '1'})
    for (let i = 0; i < 3; i++) {
      const answer = await call(
        'pm',
        'POST',
        '/timesheets/approve',
        {timesheetId, hours: 2},
        {'idempotency-key': `${prefix}${i}`},
      )
      assert.equal(answer.status, 202)
    }
    let dead = 0
    const deadline = Date.now() + 20_000
    while (dead < 3) {
      assert.ok(Date.now() < deadline, `3 dead letters in shard.${shard}.dead (saw ${dead})`)
      await delay(200)
      const list = parseJson<DlqListResult>(
        await runPoc(home, ['dlq', 'list', '--shard', String(shard), '--json']),
      )
      dead = list.queues.find((q) => q.queue === `shard.${shard}.dead`)?.messages ?? 0
    }
    assert.equal((await invoicesWithPrefix(prefix)).length, 0, 'nothing was invoiced while failing')

    await stopOnly(home, 'invoice-worker')
    await restart(home, 'invoice-worker', {FAIL_RATE: '0'})
    const redrive = await runPoc(home, ['dlq', 'redrive', '--shard', String(shard), '--json'])
    assert.equal(redrive.exitCode, 0, redrive.stdout + redrive.stderr)
    assert.equal(parseJson<DlqRedriveResult>(redrive).total, 3)
    assert.equal((await waitForInvoices(prefix, 3)).length, 3)
  })

  it('RabbitMQ killed and restarted while approvals are being accepted: every accepted approval yields its invoice', async () => {
    await produceThroughKill(home, 'rabbitmq', 300, 50, 1000)
  })

  it('sales → credit → fi: under the limit approved, over it rejected, an override approves', async () => {
    const under = `SO-U-${run}`
    const over = `SO-O-${run}`
    for (const [orderId, amount] of [
      [under, 500_000],
      [over, 5_000_000],
    ] as const) {
      const answer = await call('sales', 'POST', '/sales/orders/confirm', {
        orderId,
        customerId: 'C-1',
        amount,
        projectId: 'PRJ-001',
      })
      assert.equal(answer.status, 202, JSON.stringify(answer.json))
      assert.equal(answer.json?.accepted, true)
    }
    const creditOf = async (orderId: string, want: string) => {
      const deadline = Date.now() + 20_000
      for (;;) {
        const status = await call('fi', 'GET', `/orders/${orderId}/status`)
        if (status.json?.credit === want) return status.json
        assert.ok(Date.now() < deadline, `${orderId} credit ${want} (now ${JSON.stringify(status.json)})`)
        await delay(100)
      }
    }
    assert.equal((await creditOf(under, 'approved')).projectId, 'PRJ-001')
    await creditOf(over, 'rejected')
    const override = await call('credit', 'POST', '/credit/override', {
      orderId: over,
      amount: 5_000_000,
      approver: 'manager',
    })
    assert.equal(override.status, 200)
    assert.equal((await creditOf(over, 'approved')).approver, 'manager')
    assert.equal((await call('fi', 'GET', '/orders/SO-NEVER/status')).json?.credit, 'unknown')
  })

  it('contracts: create, remind those renewing within the window, renew', async () => {
    const soon = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10)
    const id = `CT-${run}`
    const created = await call('contract', 'POST', '/contracts', {
      contractId: id,
      customerId: 'C-9',
      renewalDate: soon,
      amount: 100,
    })
    assert.equal(created.status, 201)
    assert.equal(
      (
        await call('contract', 'POST', '/contracts', {
          contractId: id,
          customerId: 'C-9',
          renewalDate: soon,
          amount: 200,
        })
      ).status,
      200,
    )
    const reminders = await call('contract', 'POST', '/contracts/reminders/trigger', {days: 30})
    assert.equal(reminders.status, 200)
    const events = reminders.json?.events as Array<{contractId: string; eventId: string}>
    assert.ok(events.some((e) => e.contractId === id && e.eventId))
    const renewed = await call('contract', 'POST', `/contracts/${id}/renew`, {newDate: '2099-01-01'})
    assert.equal(renewed.status, 200, JSON.stringify(renewed.json))
    assert.equal((renewed.json?.item as {renewalDate: string}).renewalDate, '2099-01-01')
    const listed = await call('contract', 'GET', '/contracts')
    assert.ok(
      (listed.json?.items as Array<{contractId: string; amount: number}>).some(
        (c) => c.contractId === id && c.amount === 200,
      ),
    )
  })

  it('pm killed with SIGKILL while writing: its state file is valid and holds every acknowledged change', async () => {
    const acked: string[] = []
    const [pm] = await pidsOf(home, 'pm')
    let killed = false
    const writers = Array.from({length: 8}, async (_, w) => {
      for (let i = 0; !killed; i++) {
        const code = `KILL-${run}-${w}-${i}`
        try {
          const answer = await call('pm', 'POST', '/api/v1/projects', {
            projectCode: code,
            projectName: 'kill test',
          })
          if (answer.status === 201) acked.push(code)
        } catch {
          return
        }
        if (acked.length >= 150 && !killed) {
          killed = true
          process.kill(pm as number, 'SIGKILL')
        }
      }
    })
    await Promise.all(writers)
    const state = JSON.parse(readFileSync(path.join(home, 'data', 'pm', 'pm-poc-state.json'), 'utf8')) as {
      projects: Array<{projectCode: string}>
    }
    const saved = new Set(state.projects.map((p) => p.projectCode))
    assert.deepEqual(
      acked.filter((code) => !saved.has(code)),
      [],
      'every acknowledged project is in the file',
    )
    await restart(home, 'pm')
    const projects = await call('pm', 'GET', '/api/v1/projects')
    const served = new Set((projects.json?.items as Array<{projectCode: string}>).map((p) => p.projectCode))
    assert.ok(acked.every((code) => served.has(code)))
  })

  // SPEC §4: malformed JSON 400 invalid_json, over 1 MiB 413, unknown route 404, validation 400, bad transition 409.
  const big = JSON.stringify({blob: 'x'.repeat(1024 * 1024 + 10)})
  const badInput: Array<[Service, string, string, unknown, number, string]> = [
    ['pm', 'POST', '/api/v1/projects', '{"projectCode":', 400, 'invalid_json'],
    [
      'pm',
      'POST',
      '/api/v1/timesheets',
      {projectCode: 'DX-2025-01', userName: 'a', hours: 'eight', workDate: '2025-01-01'},
      400,
      'validation_failed',
    ],
    [
      'pm',
      'POST',
      '/api/v1/timesheets',
      {projectCode: 'DX-2025-01', userName: 'a', hours: 25, workDate: '2025-01-01'},
      400,
      'validation_failed',
    ],
    ['pm', 'POST', '/api/v1/projects', big, 413, 'payload_too_large'],
    ['pm', 'GET', '/api/v1/nothing', undefined, 404, 'not_found'],
    ['pm', 'POST', '/api/v1/timesheets/TS-005/approve', undefined, 409, 'action_not_allowed'],
    ['pm', 'POST', '/api/v1/projects/PRJ-001/explode', undefined, 400, 'unknown_action'],
    ['pm', 'POST', '/timesheets/approve', {timesheetId: 'TS-001', hours: -1}, 400, 'validation_failed'],
    ['fi', 'GET', '/invoices?limit=many', undefined, 400, 'validation_failed'],
    ['fi', 'GET', '/invoices/INV-NOPE', undefined, 404, 'invoice_not_found'],
    ['fi', 'POST', '/admin/rebuild', '{', 400, 'invalid_json'],
    ['fi', 'POST', '/admin/rebuild', big, 413, 'payload_too_large'],
    ['fi', 'DELETE', '/invoices', undefined, 404, 'not_found'],
    ['sales', 'POST', '/sales/orders/confirm', '{"orderId":', 400, 'invalid_json'],
    [
      'sales',
      'POST',
      '/sales/orders/confirm',
      {orderId: 'SO-X', customerId: 'C', amount: 'lots'},
      400,
      'validation_failed',
    ],
    [
      'sales',
      'POST',
      '/sales/orders/confirm',
      {orderId: 'SO-X', customerId: 'C', amount: -5},
      400,
      'validation_failed',
    ],
    ['sales', 'POST', '/sales/orders/confirm', big, 413, 'payload_too_large'],
    ['sales', 'GET', '/sales/orders/confirm', undefined, 404, 'not_found'],
    ['credit', 'POST', '/credit/override', '[', 400, 'invalid_json'],
    ['credit', 'POST', '/credit/override', {orderId: 'SO-X', amount: 1}, 400, 'validation_failed'],
    ['credit', 'POST', '/credit/override', big, 413, 'payload_too_large'],
    ['credit', 'GET', '/credit', undefined, 404, 'not_found'],
    ['contract', 'POST', '/contracts', '{', 400, 'invalid_json'],
    [
      'contract',
      'POST',
      '/contracts',
      {contractId: 'CT-X', customerId: 'C', renewalDate: '2026-13-01', amount: 1},
      400,
      'validation_failed',
    ],
    ['contract', 'POST', '/contracts/reminders/trigger', {days: -1}, 400, 'validation_failed'],
    ['contract', 'POST', '/contracts/CT-NOPE/renew', {newDate: '2030-01-01'}, 404, 'contract_not_found'],
    ['contract', 'POST', '/contracts/CT-2024-001/renew', {newDate: '2000-01-01'}, 409, 'renewal_not_later'],
    ['contract', 'POST', '/contracts', big, 413, 'payload_too_large'],
    ['invoice-worker', 'GET', '/invoices', undefined, 404, 'not_found'],
    ['invoice-worker', 'POST', '/health', '{}', 404, 'not_found'],
  ]
  for (const [service, method, route, body, status, code] of badInput) {
    const what =
      typeof body === 'string' ? (body.length > 100 ? '(over 1 MiB)' : body) : JSON.stringify(body ?? '')
    it(`${service}: ${method} ${route} ${what} → ${status} ${code}`, async () => {
      const answer = await call(service, method, route, body)
      assert.deepEqual([answer.status, answer.json?.error], [status, code], JSON.stringify(answer.json))
      assert.equal(typeof answer.json?.message, 'string')
    })
  }
})
