import {randomUUID} from 'node:crypto'
import {Redis} from 'ioredis'
import {exchanges, forcedFailureHeader, shardQueue} from '../../contract/topology.js'
import {makeEnvelope} from '../../contract/envelope.js'
import {idempotencyRedisKey} from '../../contract/idempotency.js'
import {shardOf} from '../../contract/shard.js'
import {type Broker, findBroker} from '../../stack/broker.js'
import {type ComponentName, getComponent} from '../../stack/catalog.js'
import {listDeadLetters, redriveDeadLetters} from '../../stack/dlq.js'
import {errorMessage} from '../../stack/errors.js'
import {lastLines} from '../../stack/log-tail.js'
import {issueDevToken} from '../../stack/secrets.js'
import {waitForReady} from '../../stack/readiness.js'
import {down, up} from '../../stack/stack.js'
import {readEventStream} from '../event-stream.js'
import {chromiumMissingReason} from '../ui/browser.js'
import {attachmentsSkipReason, checkAttachments} from './attachments.js'
import {Probe} from './probe.js'
import {notRunnableReason, type SmokeTarget} from './target.js'
import {type Scenario, type ScenarioContext, ScenarioFailure, check} from './types.js'

const pending = Probe.pending

/** SPEC §6.1, in order. Each scenario makes its own data, named after the run, so runs never collide. */
export const scenarios: Scenario[] = [
  {
    id: 'infra',
    number: 1,
    title: 'RabbitMQ, Redis and the other infrastructure answer',
    timeoutMs: 15_000,
    run: async ({target, probe, signal}) => {
      const problems: string[] = []
      for (const name of expectedOfKind(target, 'infrastructure')) {
        if (!target.running.has(name)) {
          problems.push(notRunning(name))
          continue
        }
        // The same readiness check `poc up` waited for, from the catalog.
        const readiness = getComponent(name).readiness(target.context(name))
        try {
          await waitForReady(readiness, {timeoutMs: 5000, signal})
          probe.note(`${name}: ${readiness.description}: ok`)
        } catch (error) {
          problems.push(`${name}: ${errorMessage(error)}`)
        }
      }
      check(problems.length === 0, problems.join('; '))
      return {summary: expectedOfKind(target, 'infrastructure').join(', ')}
    },
  },
  {
    id: 'services',
    number: 2,
    title: 'every service is healthy and every queue has its consumer',
    timeoutMs: 15_000,
    run: async ({target, probe, run}) => {
      const problems: string[] = []
      const services = expectedOfKind(target, 'service')
      for (const name of services) {
        if (!target.running.has(name)) {
          problems.push(notRunning(name))
          continue
        }
        const health = await probe.http('GET', `${target.url(name)}/health`).catch((error: Error) => error)
        if (health instanceof Error) problems.push(`${name}: ${health.message}`)
        else if (health.status !== 200 || health.json?.ok !== true)
          problems.push(
            `${name} is unhealthy (${health.status}): ${unhealthyBecause(health.json, health.text)}`,
          )
      }
      if (target.running.has('rabbitmq')) {
        const consumers = await queueConsumers(target)
        run.numShards = consumers.filter((q) => /^shard\.\d+$/.test(q.queue)).length
        const idle: string[] = []
        for (const {queue, consumers: count} of consumers) {
          probe.note(`${queue}: ${count} consumer(s)`)
          if (count === 0) idle.push(queue)
          else if (/^shard\.\d+$/.test(queue) && count > 1)
            problems.push(`${queue} has ${count} consumers: ordering per key needs exactly one`)
        }
        if (idle.length > 0)
          problems.push(
            `no consumer on ${idle.join(', ')}: ${idle.length > 1 ? 'their' : 'its'} messages wait unprocessed`,
          )
        check(run.numShards > 0, 'no shard.{i} queue exists: the services declare them when they start')
      }
      check(problems.length === 0, problems.join('; '))
      return {summary: `${services.length} services healthy, ${run.numShards ?? 0} shards consumed`}
    },
  },
  {
    id: 'timesheet-to-invoice',
    number: 3,
    title: 'project → timesheet → submit → approve → invoice in fi, linked in pm',
    timeoutMs: 30_000,
    run: async ({target, probe, run}) => {
      const pm = target.url('pm')
      const fi = target.url('fi')
      const project = await createProject(probe, pm, run)
      await probe.expect(200, 'POST', `${pm}/api/v1/projects/${project}/activate`)
      const timesheet = await probe.expect(201, 'POST', `${pm}/api/v1/timesheets`, {
        body: {projectId: project, userName: 'poc-smoke', hours: 2, workDate: today(), note: run.runId},
      })
      const timesheetId = timesheet.json.item.id as string
      run.created.timesheets.push(timesheetId)
      await probe.expect(200, 'POST', `${pm}/api/v1/timesheets/${timesheetId}/submit`)
      const key = `${run.runId}-approve`
      await probe.expect(200, 'POST', `${pm}/api/v1/timesheets/${timesheetId}/approve`, {
        headers: {'idempotency-key': key},
      })
      const invoice = await waitForInvoice(probe, fi, key)
      await probe.until('the invoice linked to its timesheet in pm', async () => {
        const linked = await probe.http(
          'GET',
          `${pm}/api/v1/compliance/invoices?keyword=${encodeURIComponent(timesheetId)}`,
        )
        const items = (linked.json?.items ?? []) as Array<{invoiceId?: string}>
        return items.some((i) => i.invoiceId === invoice.invoiceId)
          ? true
          : pending('pm has not linked it yet')
      })
      const e2eLatencyMs = Date.parse(invoice.projectedAt) - Date.parse(invoice.approvedAt)
      return {
        summary: `${invoice.invoiceId} in fi ${e2eLatencyMs} ms after the approval, linked in pm`,
        metrics: {e2eLatencyMs},
      }
    },
  },
  {
    id: 'idempotency',
    number: 4,
    title: 'the same Idempotency-Key twice gives one invoice; the worker logs the skip',
    timeoutMs: 30_000,
    run: async ({target, probe, run}) => {
      const pm = target.url('pm')
      const key = `${run.runId}-idem`
      const timesheetId = `TS-SMOKE-${run.runId}-IDEM`
      for (let i = 0; i < 2; i++) {
        await probe.expect(202, 'POST', `${pm}/timesheets/approve`, {
          body: {timesheetId, hours: 1},
          headers: {'idempotency-key': key},
        })
      }
      const skipLine = `invoice skipped (duplicate idempotency key ${key})`
      const logFile = target.home.logFile('invoice-worker')
      await probe.until(`"${skipLine}" in ${logFile}`, async () =>
        (await lastLines(logFile, 2000)).some((line) => line.includes(skipLine))
          ? true
          : pending('not logged yet'),
      )
      // The skip can be logged before fi has projected the first invoice: wait for it.
      const total = await probe.until('the invoice in fi', async () => {
        const answer = await probe.http(
          'GET',
          `${target.url('fi')}/invoices?keyPrefix=${encodeURIComponent(key)}`,
        )
        const count = (answer.json?.total ?? 0) as number
        return count > 0 ? count : pending('fi shows no invoice yet')
      })
      check(total === 1, `fi shows ${total} invoices for one key (expected 1)`)
      const ttlMs = await redisTtl(target, idempotencyRedisKey(key))
      probe.note(`${idempotencyRedisKey(key)} TTL ${ttlMs} ms`)
      check(ttlMs > 0, `${idempotencyRedisKey(key)} should exist with a TTL (PTTL answered ${ttlMs})`)
      return {
        summary: `one invoice, skip logged, ${idempotencyRedisKey(key)} expires in ${Math.round(ttlMs / 1000)} s`,
      }
    },
  },
  {
    id: 'ordering',
    number: 5,
    title: '20 events of one timesheet land on one shard and are processed in publish order',
    timeoutMs: 30_000,
    run: async ({target, probe, run}) => {
      const pm = target.url('pm')
      const timesheetId = `TS-SMOKE-${run.runId}-ORDER`
      const prefix = `${run.runId}-order-`
      const shards = new Set<number>()
      const published: string[] = []
      for (let i = 0; i < 20; i++) {
        const note = `seq-${String(i).padStart(2, '0')}`
        const answer = await probe.expect(202, 'POST', `${pm}/timesheets/approve`, {
          body: {timesheetId, hours: 1, note},
          headers: {'idempotency-key': `${prefix}${i}`},
        })
        shards.add(answer.json.shard as number)
        published.push(note)
      }
      check(shards.size === 1, `the events of ${timesheetId} went to shards ${[...shards].join(', ')}`)
      const [shard] = [...shards]
      const numShards = run.numShards ?? (await shardCount(target))
      check(
        shard === shardOf(timesheetId, numShards),
        `${timesheetId} went to shard ${shard}, but its key hashes to shard ${shardOf(timesheetId, numShards)} of ${numShards}`,
      )
      const invoices = await probe.until('20 invoices in fi', async () => {
        const answer = await probe.http('GET', `${target.url('fi')}/invoices?keyPrefix=${prefix}&limit=100`)
        const items = (answer.json?.items ?? []) as Array<{note?: string; processedAtMs: number}>
        return items.length >= 20 ? items : pending(`${items.length} of 20 so far`)
      })
      const processed = [...invoices].sort((a, b) => a.processedAtMs - b.processedAtMs).map((i) => i.note)
      const firstOff = processed.findIndex((note, i) => note !== published[i])
      check(
        firstOff === -1,
        `processed out of order: position ${firstOff} was ${processed[firstOff]}, published ${published[firstOff]}`,
      )
      return {summary: `shard.${shard}, 20 in publish order`}
    },
  },
  {
    id: 'dlq',
    number: 6,
    title: 'a message forced to fail lands in shard.{i}.dead; a redrive gets it processed',
    timeoutMs: 30_000,
    run: async ({target, probe, run}) => {
      const timesheetId = `TS-SMOKE-${run.runId}-DLQ`
      const key = `${run.runId}-dlq`
      const shard = shardOf(timesheetId, run.numShards ?? (await shardCount(target)))
      const envelope = makeEnvelope({
        type: 'pm.timesheet.approved',
        key: timesheetId,
        idempotencyKey: key,
        payload: {timesheetId, hours: 1, note: 'poc smoke dead-letter drill'},
      })
      await withBroker(target, (broker) =>
        broker.withChannel(async (channel) => {
          channel.publish(exchanges.events, shardQueue(shard), Buffer.from(JSON.stringify(envelope)), {
            persistent: true,
            messageId: envelope.eventId,
            contentType: 'application/json',
            headers: {idempotencyKey: key, type: envelope.type, [forcedFailureHeader]: 'until-redriven'},
          })
          await channel.waitForConfirms()
        }),
      )
      probe.note(`published drill event ${envelope.eventId} to shard.${shard} with ${forcedFailureHeader}`)
      const deadQueue = `shard.${shard}.dead`
      await probe.until(`the drill event in ${deadQueue}`, async () => {
        const listed = await listDeadLetters({shard, limit: 1000}, {home: target.home})
        const queue = listed.queues.find((q) => q.queue === deadQueue)
        return queue?.sample.some((m) => m.eventId === envelope.eventId)
          ? true
          : pending(`${deadQueue} holds ${queue?.messages ?? 0} message(s), not the drill event`)
      })
      const redrive = await redriveDeadLetters({shard, eventIds: [envelope.eventId]}, {home: target.home})
      probe.note(`redrive moved ${redrive.total}`)
      check(redrive.total === 1, `the redrive moved ${redrive.total} messages (expected the drill event)`)
      const invoice = await waitForInvoice(probe, target.url('fi'), key)
      return {summary: `${deadQueue} → redrive → ${invoice.invoiceId}`}
    },
  },
  {
    id: 'sales-credit',
    number: 7,
    title:
      'under the credit limit approved, over it rejected and on hold, an override approves; budgets in fi',
    timeoutMs: 30_000,
    run: async ({target, probe, run}) => {
      const health = await probe.expect(200, 'GET', `${target.url('credit')}/health`)
      const limit = Number(health.json.creditLimit)
      check(Number.isFinite(limit) && limit > 0, `credit /health reports no creditLimit: ${health.text}`)
      const projectId = `PRJ-SMOKE-${run.runId}`
      const under = {orderId: `SO-SMOKE-${run.runId}-UNDER`, amount: Math.min(100, limit)}
      const over = {orderId: `SO-SMOKE-${run.runId}-OVER`, amount: limit + 1}
      for (const order of [under, over]) {
        await probe.expect(202, 'POST', `${target.url('sales')}/sales/orders/confirm`, {
          body: {...order, customerId: 'poc-smoke', projectId},
        })
      }
      await waitForCredit(probe, target, under.orderId, 'approved', budgetOf(under.amount))
      await waitForCredit(probe, target, over.orderId, 'rejected', (status) =>
        status.onhold === true ? undefined : 'not on hold yet',
      )
      await probe.expect(200, 'POST', `${target.url('credit')}/credit/override`, {
        body: {orderId: over.orderId, amount: over.amount, approver: 'poc-smoke'},
      })
      await waitForCredit(probe, target, over.orderId, 'approved', budgetOf(over.amount))
      return {summary: `limit ${limit}: approved, rejected and held, overridden; both budgets allocated`}
    },
  },
  {
    id: 'contracts',
    number: 8,
    title: 'create a contract, trigger reminders, renew: both events observed',
    timeoutMs: 20_000,
    run: async ({target, probe, run, signal}) => {
      const contract = target.url('contract')
      const contractId = `CT-SMOKE-${run.runId}`
      const renewalDate = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10)
      const newDate = new Date(Date.now() + 400 * 86_400_000).toISOString().slice(0, 10)
      const seen = await withBroker(target, (broker) =>
        broker.withChannel(async (channel) => {
          // Our own exclusive queue on the domain exchange: we see what any consumer would.
          const {queue} = await channel.assertQueue('', {exclusive: true, autoDelete: true})
          await channel.bindQueue(queue, exchanges.domain, 'ckm.contract.#')
          const types = new Set<string>()
          await channel.consume(
            queue,
            (message) => {
              if (!message) return
              const event = JSON.parse(message.content.toString()) as {
                type?: string
                payload?: {contractId?: string}
              }
              if (event.payload?.contractId === contractId && event.type) types.add(event.type)
            },
            {noAck: true},
          )
          await probe.expect(201, 'POST', `${contract}/contracts`, {
            body: {contractId, customerId: 'poc-smoke', renewalDate, amount: 100},
          })
          await probe.expect(200, 'POST', `${contract}/contracts/reminders/trigger`, {body: {days: 30}})
          await probe.until('ckm.contract.renewal.reminder on the domain exchange', async () =>
            types.has('ckm.contract.renewal.reminder') ? true : pending('not observed yet'),
          )
          await probe.expect(200, 'POST', `${contract}/contracts/${contractId}/renew`, {body: {newDate}})
          await probe.until('ckm.contract.renewed on the domain exchange', async () =>
            types.has('ckm.contract.renewed') ? true : pending('not observed yet'),
          )
          signal.throwIfAborted()
          return [...types]
        }),
      )
      return {summary: `observed ${seen.join(', ')}`}
    },
  },
  {
    id: 'metrics',
    number: 9,
    title: '/metrics/summary answers; /metrics/stream sends the summary to onmessage within 2 s',
    timeoutMs: 10_000,
    run: async ({target, probe, signal}) => {
      const pm = target.url('pm')
      const summary = await probe.expect(200, 'GET', `${pm}/metrics/summary`)
      check(
        typeof summary.json?.projects === 'object' && typeof summary.json?.timesheets === 'object',
        `/metrics/summary lacks projects or timesheets: ${summary.text.slice(0, 200)}`,
      )
      // What the seed's UI reads: onmessage gets the summary; its live smoke: the first line is data:.
      const {ms: firstEventMs, data} = await firstStreamEvent(`${pm}/metrics/stream`, {limitMs: 2000}, signal)
      check(
        typeof parseJson(data)?.projects === 'object',
        `/metrics/stream's first message event is not a summary: ${data.slice(0, 200)}`,
      )
      const line = await firstLine(`${pm}/metrics/stream`, signal)
      check(
        line.startsWith('data:'),
        `/metrics/stream's first line is not a data: line: ${line.slice(0, 200)}`,
      )
      probe.note(`/metrics/stream: first event after ${firstEventMs} ms`)
      return {summary: `first stream event after ${firstEventMs} ms`, metrics: {firstEventMs}}
    },
  },
  {
    id: 'telemetry',
    number: 10,
    title: 'a telemetry probe is found again by detail_path',
    timeoutMs: 10_000,
    run: async ({target, probe, run}) => {
      const pm = target.url('pm')
      const marker = `${run.runId}-${randomUUID()}`
      await probe.expect(204, 'POST', `${pm}/api/v1/telemetry/ui`, {
        body: {
          component: 'poc-smoke',
          event: 'smoke_probe',
          level: 'info',
          origin: 'server',
          detail: {marker},
        },
      })
      const query = `detail_path=${encodeURIComponent('$.detail.marker')}&detail=${encodeURIComponent(marker)}`
      const found = await probe.expect(200, 'GET', `${pm}/api/v1/telemetry/ui?${query}`)
      const items = (found.json.items ?? []) as Array<{detail?: {marker?: string}}>
      check(
        items.length === 1 && items[0]?.detail?.marker === marker,
        `GET /api/v1/telemetry/ui?${query} found ${items.length} events (expected the probe)`,
      )
      return {summary: `probe ${marker} found`}
    },
  },
  {
    id: 'persistence',
    number: 11,
    title: 'pm restarted: what this run created is still there',
    timeoutMs: 60_000,
    run: async ({target, probe, run}) => {
      const pm = target.url('pm')
      if (run.created.projects.length === 0) await createProject(probe, pm, run)
      await down({volumes: false, only: ['pm']}, {home: target.home})
      probe.note('pm stopped')
      await up({only: ['pm'], runtime: target.runtime}, {home: target.home})
      probe.note('pm started again')
      const projects = await probe.expect(200, 'GET', `${pm}/api/v1/projects`)
      const projectIds = new Set(((projects.json.items ?? []) as Array<{id: string}>).map((p) => p.id))
      const lostProjects = run.created.projects.filter((id) => !projectIds.has(id))
      check(lostProjects.length === 0, `pm lost project(s) ${lostProjects.join(', ')} across its restart`)
      const timesheets = await probe.expect(200, 'GET', `${pm}/api/v1/timesheets?limit=1000`)
      const byId = new Map(
        ((timesheets.json.items ?? []) as Array<{id: string; status: string}>).map((t) => [t.id, t.status]),
      )
      const lost = run.created.timesheets.filter((id) => byId.get(id) !== 'approved')
      check(lost.length === 0, `pm lost the approval of ${lost.join(', ')} across its restart`)
      const count = run.created.projects.length + run.created.timesheets.length
      return {summary: `${count} record(s) of this run survived a restart of pm`}
    },
  },
  {
    id: 'gateway',
    number: 12,
    title: 'gateway: token → order → order_durable → replay → audit verify',
    timeoutMs: 30_000,
    skipReason: (target) => notRunnableReason(target, 'gateway'),
    run: async ({target, probe, run, signal}) => {
      check(target.running.has('gateway'), notRunning('gateway'))
      const gateway = target.url('gateway')
      const accountId = `smoke-${run.runId}`
      // Signed the way `poc token` signs, so a secret the user set for the stack is honoured.
      const {token} = await issueDevToken(target.home, {accountId, ttlSeconds: 300})
      const auth = {authorization: `Bearer ${token}`}
      const key = `${run.runId}-order`
      const order = {symbol: 'BTC', side: 'BUY', type: 'LIMIT', qty: 1, price: 1, clientOrderId: key}
      const placed = await probe.expect(202, 'POST', `${gateway}/orders`, {
        body: order,
        headers: {...auth, 'idempotency-key': key},
      })
      const orderId = String(placed.json?.orderId)
      const sentAt = performance.now()
      // An order's stream starts with that order's history, so order_durable is never missed.
      await firstStreamEvent(
        `${gateway}/orders/${orderId}/stream`,
        {headers: auth, type: 'order_durable'},
        signal,
      )
      const durableMs = Math.round(performance.now() - sentAt)
      probe.note(`order_durable for ${orderId} on its stream ${durableMs} ms after the 202`)
      const stored = await probe.expect(200, 'GET', `${gateway}/orders/${orderId}`, {headers: auth})
      check(stored.json?.durable === true, `GET /orders/${orderId} does not say durable: ${stored.text}`)
      const replay = await probe.expect(202, 'POST', `${gateway}/orders`, {
        body: order,
        headers: {...auth, 'idempotency-key': key},
      })
      check(
        replay.json?.orderId === orderId,
        `replaying Idempotency-Key ${key} gave ${replay.json?.orderId}, not ${orderId}`,
      )
      const audit = await probe.expect(200, 'GET', `${gateway}/audit/verify`)
      check(audit.json?.ok === true, `the audit chain does not verify: ${audit.text.slice(0, 300)}`)
      return {
        summary: `${orderId} durable after ${durableMs} ms; replay kept its id; audit chain ok over ${audit.json.checked} record(s)`,
        metrics: {durableMs},
      }
    },
  },
  {
    id: 'grafana',
    number: 13,
    title: 'Grafana dashboards match their manifest; with Prometheus, every metrics panel has data',
    timeoutMs: 60_000,
    run: async ({target, probe, signal}) => {
      const withPrometheus = target.running.has('prometheus')
      const withGrafana = target.running.has('grafana')
      // Loaded by the scenario that needs them (yaml, the manifest checks), not by every smoke run.
      const [{grafanaCheck}, {targetsNotScrapedSince}] = await Promise.all([
        import('../grafana/check.js'),
        import('../grafana/prometheus.js'),
      ])
      if (withPrometheus) {
        // This run's traffic must be in Prometheus before its panels are judged on it.
        const began = Date.now()
        await probe.until('every Prometheus target scraped after this run', async () => {
          const waiting = await targetsNotScrapedSince(target.url('prometheus'), began, signal)
          return waiting.length === 0 ? true : pending(`waiting for ${waiting.join(', ')}`)
        })
      }
      const result = await grafanaCheck({
        home: target.home,
        offline: !withPrometheus,
        live: withGrafana,
        signal,
      })
      for (const c of result.checks) probe.note(`${c.phase}: ${c.title}: ${c.status} (${c.checked} checked)`)
      for (const line of result.notVerified) probe.note(`not verified: ${line}`)
      const unreachable = [result.prometheus, result.grafana].find((s) => s && !s.reachable)
      check(!unreachable, `${unreachable?.url}: ${unreachable?.error}`)
      const failures = result.checks.flatMap((c) => c.failures.map((f) => `${f.subject}: ${f.message}`))
      check(
        failures.length === 0,
        `${failures.length} problem(s): ${failures.slice(0, 3).join('; ')}${failures.length > 3 ? '; …' : ''}`,
      )
      const {dashboards, queriedLive, withLiveData} = result.counts
      const parts = [`${dashboards} dashboards consistent offline`]
      if (withPrometheus)
        parts.push(`${withLiveData} of ${queriedLive} metrics panels with data in Prometheus`)
      if (withGrafana) parts.push('all in Grafana, alert rule not firing')
      return {
        summary: parts.join('; '),
        metrics: {panelsQueriedLive: queriedLive, panelsWithLiveData: withLiveData},
      }
    },
  },
  {
    id: 'minio-ui',
    number: 14,
    title: 'the browser UI flow, and attachments in MinIO through presigned URLs',
    timeoutMs: 90_000,
    // Each part runs when it can; the scenario is skipped only when neither can.
    skipReason: (target) => {
      const ui = uiFlowSkipReason(target)
      const minio = attachmentsSkipReason(target)
      return ui && minio ? `${ui}; ${minio}` : undefined
    },
    run: async ({target, probe, run, signal, attach}) => {
      const summaries: string[] = []
      const metrics: Record<string, number> = {}
      const uiSkipped = uiFlowSkipReason(target)
      if (uiSkipped) {
        probe.note(`browser flow skipped: ${uiSkipped}`)
      } else {
        check(target.running.has('ui'), notRunning('ui'))
        const {runBrowserFlow} = await import('../ui/run-flow.js')
        const result = await runBrowserFlow(target.url('ui'), run.runId, signal, {
          note: (text) => probe.note(text),
          attach,
        })
        summaries.push(
          `project, timesheet, submit, approve in Chromium: invoice in compliance ${result.invoiceVisibleMs} ms and the metrics panel ${result.metricsUpdateMs} ms after the approval; ${Math.round(result.totalMs / 100) / 10} s in all`,
        )
        Object.assign(metrics, {
          uiFlowMs: result.totalMs,
          uiInvoiceVisibleMs: result.invoiceVisibleMs,
          uiMetricsUpdateMs: result.metricsUpdateMs,
        })
      }
      const minioSkipped = attachmentsSkipReason(target)
      if (minioSkipped) {
        probe.note(`MinIO attachments skipped: ${minioSkipped}`)
      } else {
        const result = await checkAttachments(target, probe)
        summaries.push(result.summary)
        Object.assign(metrics, result.metrics)
      }
      return {summary: summaries.join('; '), metrics}
    },
  },
]

function uiFlowSkipReason(target: SmokeTarget): string | undefined {
  return (
    notRunnableReason(target, 'ui') ??
    (target.expected.includes('ui') ? undefined : 'the stack runs no ui (poc up starts it)') ??
    chromiumMissingReason()
  )
}

function expectedOfKind(target: SmokeTarget, kind: 'infrastructure' | 'service'): ComponentName[] {
  return target.expected.filter((name) => getComponent(name).kind === kind)
}

function notRunning(name: ComponentName): string {
  return `${name} is not running (start it with: poc up --only ${name})`
}

/** The cause of an unhealthy /health, in a few words. */
export function unhealthyBecause(json: unknown, text: string): string {
  const health = (json ?? {}) as {
    state?: {writable?: boolean; error?: string}
    bus?: {connected?: boolean; consumers?: Array<{queue: string; active: boolean}>}
    redis?: string
  }
  const causes: string[] = []
  if (health.state?.writable === false) causes.push(health.state.error ?? 'its state file cannot be written')
  if (health.bus?.connected === false) causes.push('not connected to RabbitMQ')
  const idle = (health.bus?.consumers ?? []).filter((c) => !c.active).map((c) => c.queue)
  if (idle.length > 0) causes.push(`not consuming ${idle.join(', ')}`)
  if (health.redis !== undefined && health.redis !== 'ready') causes.push(`Redis ${health.redis}`)
  return causes.length > 0 ? causes.join('; ') : text.slice(0, 200)
}

async function withBroker<T>(target: SmokeTarget, work: (broker: Broker) => Promise<T>): Promise<T> {
  return work(await findBroker(target.home, 'smoke'))
}

/** Every work queue (not the dead-letter ones) with its exact consumer count, from the broker itself. */
async function queueConsumers(target: SmokeTarget): Promise<Array<{queue: string; consumers: number}>> {
  return withBroker(target, async (broker) => {
    const names = (await broker.queueNames())
      .filter((name) => /^shard\.\d+$/.test(name) || /\.inbox$/.test(name))
      .sort((a, b) => a.localeCompare(b, 'en', {numeric: true}))
    return broker.withChannel(async (channel) => {
      const counts: Array<{queue: string; consumers: number}> = []
      for (const queue of names)
        counts.push({queue, consumers: (await channel.checkQueue(queue)).consumerCount})
      return counts
    })
  })
}

async function shardCount(target: SmokeTarget): Promise<number> {
  const names = await withBroker(target, (broker) => broker.queueNames())
  const count = names.filter((name) => /^shard\.\d+$/.test(name)).length
  if (count === 0)
    throw new ScenarioFailure('no shard.{i} queue exists: the services declare them when they start')
  return count
}

async function createProject(probe: Probe, pm: string, run: ScenarioContext['run']): Promise<string> {
  const answer = await probe.expect(201, 'POST', `${pm}/api/v1/projects`, {
    body: {projectCode: `SMOKE-${run.runId}`, projectName: `poc smoke ${run.runId}`, clientName: 'poc smoke'},
    headers: {'idempotency-key': `${run.runId}-project`},
  })
  const id = answer.json.item.id as string
  run.created.projects.push(id)
  return id
}

interface FiInvoice {
  invoiceId: string
  approvedAt: string
  projectedAt: string
}

async function waitForInvoice(probe: Probe, fi: string, key: string): Promise<FiInvoice> {
  return probe.until(`the invoice of ${key} in fi`, async () => {
    const answer = await probe.http('GET', `${fi}/invoices?keyPrefix=${encodeURIComponent(key)}`)
    if (answer.status !== 200) pending(`fi answered ${answer.status}`)
    const [invoice] = (answer.json.items ?? []) as FiInvoice[]
    return invoice ?? pending('fi shows no invoice yet')
  })
}

/** fi's order status, beyond its credit: why it is not what the scenario waits for yet. */
type OrderCheck = (status: Record<string, unknown>) => string | undefined

function budgetOf(amount: number): OrderCheck {
  return (status) =>
    status.budgetAllocated === true && status.budgetAmount === amount
      ? undefined
      : `budgetAllocated ${String(status.budgetAllocated)}, budgetAmount ${String(status.budgetAmount)} (want ${amount})`
}

async function waitForCredit(
  probe: Probe,
  target: SmokeTarget,
  orderId: string,
  expected: string,
  also?: OrderCheck,
): Promise<void> {
  await probe.until(`credit ${expected} for ${orderId} in fi`, async () => {
    const answer = await probe.http('GET', `${target.url('fi')}/orders/${encodeURIComponent(orderId)}/status`)
    const credit = answer.json?.credit as string | undefined
    if (credit !== expected) return pending(`fi says ${credit ?? answer.status}`)
    const missing = also?.(answer.json as Record<string, unknown>)
    return missing === undefined ? true : pending(`fi says ${credit}, ${missing}`)
  })
}

async function redisTtl(target: SmokeTarget, key: string): Promise<number> {
  const {host, ports} = target.context('redis')
  const redis = new Redis({
    host,
    port: ports.redis,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  })
  redis.on('error', () => undefined)
  try {
    await redis.connect()
    return await redis.pttl(key)
  } catch (error) {
    throw new ScenarioFailure(`Redis at ${host}:${ports.redis}: ${errorMessage(error)}`)
  } finally {
    redis.disconnect()
  }
}

/**
 * ms until the stream's first event of `type` (`message`, an unnamed event, by default), read with
 * EventSource as a browser would, or a failure that names the stream: an answer other than 200,
 * an end before it, or nothing within `limitMs`.
 */
async function firstStreamEvent(
  url: string,
  {
    headers = {},
    type = 'message',
    limitMs,
  }: {headers?: Record<string, string>; type?: string; limitMs?: number},
  signal: AbortSignal,
): Promise<{ms: number; data: string}> {
  const started = performance.now()
  const controller = new AbortController()
  let timedOut = false
  const timer =
    limitMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true
          controller.abort()
        }, limitMs)
  const stream = new URL(url).pathname
  const what = `${type} event`
  try {
    for await (const event of readEventStream(url, {
      headers,
      events: [type],
      signal: AbortSignal.any([signal, controller.signal]),
    })) {
      return {ms: Math.round(performance.now() - started), data: event.data}
    }
  } catch (error) {
    throw new ScenarioFailure(`GET ${stream}: ${errorMessage(error)}`)
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
  if (signal.aborted) throw signal.reason
  if (timedOut) throw new ScenarioFailure(`${stream} sent no ${what} within ${limitMs} ms`)
  throw new ScenarioFailure(`${stream} ended before its ${what}`)
}

/** The raw first line of a stream, as `curl -N url | read line` sees it. */
async function firstLine(url: string, signal: AbortSignal): Promise<string> {
  const controller = new AbortController()
  const stream = new URL(url).pathname
  try {
    const response = await fetch(url, {
      headers: {accept: 'text/event-stream'},
      signal: AbortSignal.any([signal, controller.signal, AbortSignal.timeout(2000)]),
    })
    if (response.status !== 200 || !response.body)
      throw new ScenarioFailure(`GET ${stream} answered ${response.status}`)
    const decoder = new TextDecoder()
    let text = ''
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, {stream: true})
      const end = text.search(/\r|\n/)
      if (end >= 0) return text.slice(0, end)
    }
    throw new ScenarioFailure(`${stream} ended before its first line`)
  } catch (error) {
    if (signal.aborted) throw signal.reason
    if (error instanceof ScenarioFailure) throw error
    throw new ScenarioFailure(`GET ${stream}: ${errorMessage(error)}`)
  } finally {
    controller.abort()
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function today(): string {
  return new Date().toISOString().slice(0, 10)
}
