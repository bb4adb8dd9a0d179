#!/usr/bin/env node
// npm run bench:backbone — approve → invoice-visible-in-fi latency of the event backbone, and the
// highest approval rate it sustains with no growing backlog. Brings up its own stack (fresh
// POC_HOME, port offset 5500), runs `poc produce` at 50/s, then at rising rates, and stops it.
//   npm run bench:backbone                 # 50/s, then 100, 150, 200, 250, 300, 400, 500
//   npm run bench:backbone -- 100 200 300  # other steps
// A step is sustained when the producer kept its schedule (≥ 95 % of the rate, < 1 % late sends),
// every invoice showed up, fi was caught up within 1 s of the last send, and every queue
// (shards and inboxes) was empty 3 s later. Each step sends 15 s worth of approvals.
// Beside each step: the 1-minute load average at its end, the CPU the generator (`poc produce`)
// used, and the CPU of pm, invoice-worker, fi and RabbitMQ during it (% of one core). First, as
// the reference measured in the same run, the broker's own rate: persistent publishes with
// confirms (256 in flight) to a durable queue, consumed with acks; every step's achieved rate
// is also given as a share of it, with the broker's CPU per message in that reference. Under the
// table, per step: CPU ms per approval of each process and the generator, the messages RabbitMQ
// took in and handed out per approval (its management API's counters), and the rate those CPU
// costs allow on this machine's cores. Needs `npm run build`.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import amqp from 'amqplib'

const root = path.resolve(import.meta.dirname, '..')
const offset = 5500
const steps = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0)
const rates = steps.length > 0 ? steps : [100, 150, 200, 250, 300, 400, 500]
const seconds = 15
const home = mkdtempSync(path.join(os.tmpdir(), 'poc-bench-backbone-'))

function poc(args, extraEnv = {}) {
  const result = spawnSync('node', [path.join(root, 'bin/run.js'), ...args], {
    env: {...process.env, POC_HOME: home, ...extraEnv},
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  return {status: result.status, stdout: result.stdout, stderr: result.stderr}
}

const amqpUrl = `amqp://guest:guest@127.0.0.1:${5672 + offset}`
const clockTicks = 100

/** The broker's rate on its own: publish (persistent, confirmed, 256 in flight) → consume (acked). */
async function referenceRate(count = 20_000) {
  const connection = await amqp.connect(amqpUrl)
  try {
    const publisher = await connection.createConfirmChannel()
    const consumer = await connection.createChannel()
    const queue = `bench.reference.${process.pid}`
    await publisher.assertQueue(queue, {durable: true})
    await consumer.prefetch(256)
    const body = Buffer.from(
      JSON.stringify({type: 'bench.reference', payload: {n: 0, note: 'x'.repeat(400)}}),
    )
    let consumed = 0
    let consumerTag
    const done = new Promise((resolve) => {
      void consumer
        .consume(queue, (message) => {
          if (message === null) return
          consumer.ack(message)
          if (++consumed === count) resolve()
        })
        .then((ok) => (consumerTag = ok.consumerTag))
    })
    const started = performance.now()
    let confirmed = 0
    await new Promise((resolve, reject) => {
      let sent = 0
      const more = () => {
        while (sent < count && sent - confirmed < 256) {
          sent++
          publisher.publish('', queue, body, {persistent: true}, (error) => {
            if (error) return reject(error)
            if (++confirmed === count) resolve()
            else more()
          })
        }
      }
      more()
    })
    await done
    const rate = Math.round((count / (performance.now() - started)) * 1000)
    await consumer.cancel(consumerTag)
    await publisher.deleteQueue(queue)
    return rate
  } finally {
    await connection.close()
  }
}

/** CPU ticks (user + system) of a process and its descendants (a container's server under its conmon). */
function treeTicks(roots) {
  const children = new Map()
  const ticks = new Map()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ppid = Number(fields[1])
      ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]))
      if (!children.has(ppid)) children.set(ppid, [])
      children.get(ppid).push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  let total = 0
  const stack = [...roots]
  const seen = new Set()
  while (stack.length > 0) {
    const pid = stack.pop()
    if (seen.has(pid)) continue
    seen.add(pid)
    total += ticks.get(pid) ?? 0
    stack.push(...(children.get(pid) ?? []))
  }
  return total
}

const watched = ['pm', 'invoice-worker', 'fi', 'rabbitmq']
let pidsOf = {}
function cpuTicks() {
  return Object.fromEntries(watched.map((name) => [name, treeTicks(pidsOf[name] ?? [])]))
}

async function backlog() {
  const connection = await amqp.connect(amqpUrl)
  try {
    const channel = await connection.createChannel()
    const depths = {}
    for (const queue of [
      'shard.0',
      'shard.1',
      'shard.2',
      'shard.3',
      'fi.inbox',
      'pm.inbox',
      'credit.inbox',
    ]) {
      depths[queue] = (await channel.checkQueue(queue)).messageCount
    }
    return depths
  } finally {
    await connection.close()
  }
}

/** `poc produce` under bash, whose `times` reports the CPU its child (the generator) used. */
function produceTimed(args) {
  const quoted = args.map((a) => `'${a}'`).join(' ')
  const run = spawnSync(
    'bash',
    ['-c', `node '${path.join(root, 'bin/run.js')}' ${quoted}; code=$?; times >&2; exit $code`],
    {env: {...process.env, POC_HOME: home}, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024},
  )
  // `times`: the shell's user and system time, then its children's.
  const last = run.stderr.trim().split('\n').at(-1) ?? ''
  const seconds = [...last.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
    (sum, m) => sum + Number(m[1]) * 60 + Number(m[2]),
    0,
  )
  return {status: run.status, stdout: run.stdout, stderr: run.stderr, cpuSeconds: seconds}
}

/** RabbitMQ's counters since it started: messages published to it and handed to consumers. */
async function brokerCounters() {
  const response = await fetch(`http://127.0.0.1:${15672 + offset}/api/overview`, {
    headers: {authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`},
  })
  const stats = (await response.json()).message_stats ?? {}
  return {published: stats.publish ?? 0, delivered: stats.deliver_get ?? 0}
}

// The management API's counters lag by up to its statistics interval (5 s): read after that long.
const countersLagMs = 5500
let countersBefore

async function step(rps, batch) {
  countersBefore ??= await delay(countersLagMs).then(brokerCounters)
  const ticksBefore = cpuTicks()
  const run = produceTimed([
    'produce',
    '--batch',
    String(batch),
    '--rps',
    String(rps),
    '--wait',
    '120s',
    '--json',
  ])
  if (!run.stdout.trim().startsWith('{')) throw new Error(`poc produce failed:\n${run.stdout}${run.stderr}`)
  const result = JSON.parse(run.stdout)
  const ticksAfter = cpuTicks()
  // Over the sending, the wait for fi, and produce's own start (~1 s); the backlog check follows.
  const wallSeconds = (result.sendDurationMs + (result.e2e?.drainMs ?? 0)) / 1000 + 1
  const cpu = Object.fromEntries(
    watched.map((name) => [
      name,
      Math.round((100 * (ticksAfter[name] - ticksBefore[name])) / clockTicks / wallSeconds),
    ]),
  )
  const load = os.loadavg()[0]
  await delay(3000)
  const ticksSettled = cpuTicks()
  const depths = await backlog()
  const countersAfter = await delay(countersLagMs).then(brokerCounters)
  const accepted = Math.max(result.accepted, 1)
  // Over the whole step, the 3 s after included: what one approval costs each process.
  const msPerApproval = Object.fromEntries(
    watched.map((name) => [name, ((ticksSettled[name] - ticksBefore[name]) * 1000) / clockTicks / accepted]),
  )
  const messages = {
    published: (countersAfter.published - countersBefore.published) / accepted,
    delivered: (countersAfter.delivered - countersBefore.delivered) / accepted,
  }
  countersBefore = countersAfter
  const left = Object.values(depths).reduce((a, b) => a + b, 0)
  const sustained =
    result.ok &&
    result.achievedRps >= 0.95 * rps &&
    result.lateSends <= 0.01 * batch &&
    result.e2e?.drainMs !== null &&
    result.e2e.drainMs <= 1000 &&
    left === 0
  return {
    rps,
    batch,
    result,
    depths,
    left,
    sustained,
    cpu,
    load,
    generatorCpuSeconds: run.cpuSeconds,
    msPerApproval: {...msPerApproval, generator: (run.cpuSeconds * 1000) / accepted},
    messages,
  }
}

function line(s) {
  const r = s.result
  const e = r.e2e ?? {latencyMs: {}}
  return [
    String(s.rps).padStart(5),
    String(r.achievedRps).padStart(8),
    String(r.lateSends).padStart(5),
    `${e.latencyMs.p50}`.padStart(7),
    `${e.latencyMs.p99}`.padStart(7),
    `${e.latencyMs.max}`.padStart(7),
    `${e.drainMs ?? '-'}`.padStart(8),
    String(s.left).padStart(8),
    (s.sustained ? 'yes' : 'NO').padStart(9),
    `${Math.round((100 * r.achievedRps) / reference)} %`.padStart(6),
    s.load.toFixed(1).padStart(5),
    `${s.generatorCpuSeconds.toFixed(1)} s`.padStart(7),
    `   ${watched.map((name) => `${name} ${s.cpu[name]}`).join(', ')}`,
  ].join('  ')
}

let reference = 0

try {
  const up = poc(['up', '--port-offset', String(offset), '--json'])
  if (up.status !== 0) throw new Error(`poc up failed:\n${up.stdout}${up.stderr}`)
  console.log(`stack up in ${home} (offset ${offset}); ${seconds} s of approvals per step`)
  const status = JSON.parse(poc(['status', '--json']).stdout)
  pidsOf = Object.fromEntries(status.components.map((c) => [c.name, c.pids]))
  const referenceCount = 20_000
  const brokerBefore = treeTicks(pidsOf.rabbitmq ?? [])
  reference = await referenceRate(referenceCount)
  const brokerUsPerMessage =
    ((treeTicks(pidsOf.rabbitmq ?? []) - brokerBefore) * 1e6) / clockTicks / referenceCount
  console.log(
    `reference: RabbitMQ alone, persistent publish + confirm → consume + ack: ${reference} msg/s, ${Math.round(brokerUsPerMessage)} µs of the broker's CPU per message (load ${os.loadavg()[0].toFixed(1)})`,
  )
  console.log(
    '  rps  achieved  late  p50 ms  p99 ms  max ms  drain ms  backlog  sustained  ÷ ref  load  gen CPU   CPU % of a core',
  )
  const baseline = await step(50, 50 * 60)
  console.log(line(baseline))
  const costs = [baseline]
  let best = baseline.sustained ? 50 : 0
  for (const rps of rates) {
    const s = await step(rps, rps * seconds)
    costs.push(s)
    console.log(line(s))
    if (!s.sustained) {
      if (s.left > 0) console.log(`         backlog 3 s after: ${JSON.stringify(s.depths)}`)
      break
    }
    best = rps
  }
  const cores = os.availableParallelism()
  console.log(`\nCPU ms per approval (${cores} cores), and RabbitMQ's messages per approval:`)
  for (const s of costs) {
    const ms = s.msPerApproval
    const total = Object.values(ms).reduce((a, b) => a + b, 0)
    console.log(
      `${String(s.rps).padStart(5)}/s  ${Object.entries(ms)
        .map(([name, v]) => `${name} ${v.toFixed(2)}`)
        .join(
          ', ',
        )}; all ${total.toFixed(2)} ms → at most ${Math.round((cores * 1000) / total)}/s on ${cores} cores; ` +
        `${s.messages.published.toFixed(1)} published, ${s.messages.delivered.toFixed(1)} delivered per approval`,
    )
  }
  console.log(
    `\napprove → invoice at 50/s: p50 ${baseline.result.e2e.latencyMs.p50} ms, p99 ${baseline.result.e2e.latencyMs.p99} ms`,
  )
  console.log(
    `highest sustained rate among the steps: ${best} approvals/s (${Math.round((100 * best) / reference)} % of the broker's own ${reference} msg/s)`,
  )
} finally {
  poc(['down'])
  rmSync(home, {recursive: true, force: true})
}
