#!/usr/bin/env node
// npm run bench:generator — the highest rate poc bench's load generator sustains against a bare
// node:http server on this machine, next to wrk's maximum (and autocannon's) against the same
// server in the same run, with the generator's own CPU use and the machine's load. A rate is
// sustained when the generator sent ≥ 98 % of it, fewer than 1 % of requests more than 10 ms
// late, none unsent, and every answer came back. 5 s per step.
//   npm run bench:generator                      # 5000 10000 15000 20000 25000 30000
//   npm run bench:generator -- 8000 12000        # other steps
//   GENERATOR_DIST=/other/dist npm run bench:generator   # another build's generator (before/after)
// Needs `npm run build` (it loads the generator from dist/); wrk is optional (apt-get install wrk).
import {spawn, spawnSync} from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import autocannon from 'autocannon'

const root = path.resolve(import.meta.dirname, '..')
const dist = process.env.GENERATOR_DIST ?? path.join(root, 'dist')
const {runLoad} = await import(path.join(dist, 'checks/bench/load.js'))
const steps = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0)
const rates = steps.length > 0 ? steps : [5000, 10000, 15000, 20000, 25000, 30000]
const connections = 64
const seconds = 5
const load = () => os.loadavg()[0].toFixed(2)

/** wrk's closed-loop maximum (1 thread, the same connections), or undefined without wrk. */
function wrkMax(url) {
  const result = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, url], {encoding: 'utf8'})
  if (result.error || result.status !== 0) return undefined
  const match = /Requests\/sec:\s+([\d.]+)/.exec(result.stdout)
  return match ? Math.round(Number(match[1])) : undefined
}

/**
 * The machine's own floor for "late": 1 ms timers in a process doing nothing else for `ms`,
 * the share that fired more than 10 ms late and the worst. On a shared, loaded machine the
 * generator cannot be on time more often than this.
 */
async function timerLateness(ms) {
  let late = 0
  let count = 0
  let worst = 0
  const end = performance.now() + ms
  while (performance.now() < end) {
    const t = performance.now()
    await delay(1)
    const over = performance.now() - t - 1
    count++
    worst = Math.max(worst, over)
    if (over > 10) late++
  }
  return {latePercent: (late / count) * 100, worstMs: worst}
}

const server = spawn(
  process.execPath,
  [
    '-e',
    `require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => s.end('{"ok":true}')) })
       .listen(0, '127.0.0.1', function () { process.stdout.write(this.address().port + '\\n') })`,
  ],
  {stdio: ['ignore', 'pipe', 'inherit']},
)
try {
  const port = await new Promise((resolve) => server.stdout.once('data', (d) => resolve(d.toString().trim())))
  const url = `http://127.0.0.1:${port}/x`
  console.log(`${os.cpus().length} cores, node ${process.versions.node}, generator from ${dist}`)
  const wrkLoad = load()
  const wrk = wrkMax(url)
  console.log(
    wrk === undefined
      ? 'wrk: not installed (apt-get install wrk); ratios are to autocannon only'
      : `wrk: ${wrk} req/s (1 thread, ${connections} connections, ${seconds} s, closed loop; load ${wrkLoad})`,
  )
  await delay(1000)
  const cannonLoad = load()
  const cannon = await autocannon({url, connections, duration: seconds})
  const autocannonMax = Math.round(cannon.requests.average)
  console.log(
    `autocannon: ${autocannonMax} req/s (${connections} connections, ${seconds} s, closed loop; load ${cannonLoad})`,
  )
  const idle = await timerLateness(3000)
  console.log(
    `an idle process's 1 ms timers: ${idle.latePercent.toFixed(2)} % fired > 10 ms late, worst ${idle.worstMs.toFixed(0)} ms (load ${load()})`,
  )
  let sustained = 0
  const results = []
  for (const rate of rates) {
    await delay(1000)
    const loadBefore = load()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const stats = await runLoad(
      {
        phases: [{name: 'step', duration_sec: seconds, rate_start: rate, rate_end: rate}],
        warmupSec: 1,
        connections,
      },
      {url, method: 'GET', headers: () => ({}), body: () => undefined},
    )
    const cpu = process.cpuUsage(cpu0)
    const cpuMs = (cpu.user + cpu.system) / 1000
    const cpuShare = cpuMs / (performance.now() - t0)
    const usPerRequest = (cpuMs * 1000) / Math.max(stats.requests + stats.unsent, 1)
    const ok =
      stats.achievedRate >= rate * 0.98 &&
      stats.lateSends < stats.requests * 0.01 &&
      stats.unsent === 0 &&
      stats.completed === stats.requests
    results.push({
      rate,
      ok,
      cpuShare: Number(cpuShare.toFixed(3)),
      late: stats.lateSends,
      unsent: stats.unsent,
    })
    console.log(
      `poc bench generator at ${rate}/s: sent ${Math.round(stats.achievedRate)}/s, late ${stats.lateSends}, ` +
        `unsent ${stats.unsent}, corrected p99 ${(stats.corrected.percentile(99) / 1000).toFixed(2)} ms, ` +
        `raw p50 ${(stats.raw.percentile(50) / 1000).toFixed(2)} ms; generator CPU ${(cpuShare * 100).toFixed(0)} % of a core ` +
        `(${usPerRequest.toFixed(0)} µs/request); load ${loadBefore} → ${load()} → ${ok ? 'sustained' : 'NOT sustained'}`,
    )
    if (!ok) break
    sustained = rate
  }
  const ratio = (ref) => (ref ? Number((sustained / ref).toFixed(3)) : undefined)
  console.log(
    `highest sustained: ${sustained}/s; ratio to wrk ${ratio(wrk) ?? 'n/a'}, to autocannon ${ratio(autocannonMax)}`,
  )
  console.log(
    JSON.stringify({
      wrkMax: wrk,
      autocannonMax,
      sustained,
      ratioToWrk: ratio(wrk),
      ratio: ratio(autocannonMax),
      steps: results,
      idleTimersLatePercent: Number(idle.latePercent.toFixed(3)),
      loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
    }),
  )
} finally {
  server.kill()
}
