#!/usr/bin/env node
// npm run bench:backbone — approve → invoice-visible-in-fi latency of the event backbone, and the
// highest approval rate it sustains with no growing backlog. Brings up its own stack (fresh
// POC_HOME, port offset 5500), runs `poc produce` at 50/s, then at rising rates, and stops it.
//   npm run bench:backbone                 # 50/s, then 100, 150, 200, 250, 300, 400, 500
//   npm run bench:backbone -- 100 200 300  # other steps
// A step is sustained when the producer kept its schedule (≥ 95 % of the rate, < 1 % late sends),
// every invoice showed up, fi was caught up within 1 s of the last send, and every queue
// (shards and inboxes) was empty 3 s later. Each step sends 15 s worth of approvals.
// Needs `npm run build`.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
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

async function backlog() {
  const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${5672 + offset}`)
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

async function step(rps, batch) {
  const run = poc(['produce', '--batch', String(batch), '--rps', String(rps), '--wait', '120s', '--json'])
  if (!run.stdout.trim().startsWith('{')) throw new Error(`poc produce failed:\n${run.stdout}${run.stderr}`)
  const result = JSON.parse(run.stdout)
  await delay(3000)
  const depths = await backlog()
  const left = Object.values(depths).reduce((a, b) => a + b, 0)
  const sustained =
    result.ok &&
    result.achievedRps >= 0.95 * rps &&
    result.lateSends <= 0.01 * batch &&
    result.e2e?.drainMs !== null &&
    result.e2e.drainMs <= 1000 &&
    left === 0
  return {rps, batch, result, depths, left, sustained}
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
    s.sustained ? 'yes' : 'NO',
  ].join('  ')
}

try {
  const up = poc(['up', '--port-offset', String(offset), '--json'])
  if (up.status !== 0) throw new Error(`poc up failed:\n${up.stdout}${up.stderr}`)
  console.log(`stack up in ${home} (offset ${offset}); ${seconds} s of approvals per step`)
  console.log('  rps  achieved  late  p50 ms  p99 ms  max ms  drain ms  backlog  sustained')
  const baseline = await step(50, 50 * 60)
  console.log(line(baseline))
  let best = baseline.sustained ? 50 : 0
  for (const rps of rates) {
    const s = await step(rps, rps * seconds)
    console.log(line(s))
    if (!s.sustained) {
      if (s.left > 0) console.log(`         backlog 3 s after: ${JSON.stringify(s.depths)}`)
      break
    }
    best = rps
  }
  console.log(
    `\napprove → invoice at 50/s: p50 ${baseline.result.e2e.latencyMs.p50} ms, p99 ${baseline.result.e2e.latencyMs.p99} ms`,
  )
  console.log(`highest sustained rate among the steps: ${best} approvals/s`)
} finally {
  poc(['down'])
  rmSync(home, {recursive: true, force: true})
}
