#!/usr/bin/env node
// npm run bench:generator — the highest rate poc bench's load generator sustains against a bare
// node:http server on this machine, next to autocannon's maximum against the same server in the
// same run. A rate is sustained when the generator sent ≥ 98 % of it, fewer than 1 % of requests
// more than 10 ms late, none unsent, and every answer came back. 5 s per step.
//   npm run bench:generator                      # 5000 10000 15000 20000 25000 30000
//   npm run bench:generator -- 8000 12000        # other steps
// Needs `npm run build` (it loads the generator from dist/).
import {spawn} from 'node:child_process'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import autocannon from 'autocannon'

const root = path.resolve(import.meta.dirname, '..')
const {runLoad} = await import(path.join(root, 'dist/checks/bench/load.js'))
const steps = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0)
const rates = steps.length > 0 ? steps : [5000, 10000, 15000, 20000, 25000, 30000]
const connections = 64
const seconds = 5

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
  const cannon = await autocannon({url, connections, duration: seconds})
  const autocannonMax = Math.round(cannon.requests.average)
  console.log(`autocannon: ${autocannonMax} req/s (${connections} connections, ${seconds} s, closed loop)`)
  let sustained = 0
  for (const rate of rates) {
    await delay(1000)
    const stats = await runLoad(
      {
        phases: [{name: 'step', duration_sec: seconds, rate_start: rate, rate_end: rate}],
        warmupSec: 1,
        connections,
      },
      {url, method: 'GET', headers: () => ({}), body: () => undefined},
    )
    const ok =
      stats.achievedRate >= rate * 0.98 &&
      stats.lateSends < stats.requests * 0.01 &&
      stats.unsent === 0 &&
      stats.completed === stats.requests
    console.log(
      `poc bench generator at ${rate}/s: sent ${Math.round(stats.achievedRate)}/s, late ${stats.lateSends}, ` +
        `unsent ${stats.unsent}, corrected p99 ${(stats.corrected.percentile(99) / 1000).toFixed(2)} ms → ${ok ? 'sustained' : 'NOT sustained'}`,
    )
    if (!ok) break
    sustained = rate
  }
  console.log(
    `highest sustained: ${sustained}/s; ratio to autocannon ${(sustained / autocannonMax).toFixed(2)}`,
  )
  console.log(
    JSON.stringify({autocannonMax, sustained, ratio: Number((sustained / autocannonMax).toFixed(3))}),
  )
} finally {
  server.kill()
}
