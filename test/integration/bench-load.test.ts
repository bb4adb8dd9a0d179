import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {after, describe, it} from 'node:test'
import {runLoad} from '../../src/checks/bench/load.js'

/*
 * The generator against a real node:http server in its own process (so a stall of the server is
 * not a stall of the generator). The server counts arrivals, and can hold every answer for a while
 * once it has seen a given number of requests.
 */
const serverScript = `
const http = require('node:http')
const stallAt = Number(process.env.STALL_AT || 0)
const stallMs = Number(process.env.STALL_MS || 0)
let n = 0
let stalledUntil = 0
const arrivals = []
http.createServer((req, res) => {
  if (req.url === '/arrivals') {
    res.end(JSON.stringify(arrivals))
    return
  }
  n++
  arrivals.push(performance.timeOrigin + performance.now())
  if (n === stallAt) stalledUntil = Date.now() + stallMs
  const answer = () => res.end('{"ok":true}')
  const wait = stalledUntil - Date.now()
  if (wait > 0) setTimeout(answer, wait)
  else answer()
}).listen(0, '127.0.0.1', function () {
  process.stdout.write(String(this.address().port) + '\\n')
})
`

const servers: ChildProcess[] = []
after(() => {
  for (const server of servers) server.kill()
})

async function startServer(env: Record<string, string> = {}): Promise<string> {
  const child = spawn(process.execPath, ['-e', serverScript], {env: {...process.env, ...env}})
  servers.push(child)
  const port = await new Promise<string>((resolve) =>
    child.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim())),
  )
  return `http://127.0.0.1:${port}`
}

const get = (url: string) => ({url: `${url}/x`, method: 'GET', headers: () => ({}), body: () => undefined})

describe('the open-model load generator', () => {
  it('holds a requested rate within 2 % for 5 s, as the server counts arrivals', async () => {
    const server = await startServer()
    const stats = await runLoad(
      {
        phases: [{name: 'constant', duration_sec: 5, rate_start: 1000, rate_end: 1000}],
        warmupSec: 0.5,
        connections: 16,
      },
      get(server),
    )
    assert.equal(stats.requests, 5000)
    assert.equal(stats.completed, 5000)
    assert.equal(stats.statusCounts['200'], 5000)
    assert.ok(Math.abs(stats.achievedRate - 1000) <= 20, `achieved ${stats.achievedRate}/s`)
    // What the server saw, warm-up (500 requests) excluded: arrivals per second over the 5 s.
    const arrivals = (await (await fetch(`${server}/arrivals`)).json()) as number[]
    const measured = arrivals.slice(500)
    assert.equal(measured.length, 5000)
    const seconds = ((measured.at(-1) as number) - (measured[0] as number)) / 1000
    const rate = (measured.length - 1) / seconds
    assert.ok(
      Math.abs(rate - 1000) / 1000 <= 0.02,
      `the server saw ${rate.toFixed(1)}/s over ${seconds.toFixed(3)} s`,
    )
  })

  it('shows a 200 ms stall of the server in the corrected p99, and not in the raw p99', async () => {
    // The stall starts 2 s into the measured window (after 250 warm-up requests at 500/s).
    const server = await startServer({STALL_AT: String(250 + 1000), STALL_MS: '200'})
    const stats = await runLoad(
      {
        phases: [{name: 'constant', duration_sec: 5, rate_start: 500, rate_end: 500}],
        warmupSec: 0.5,
        connections: 8,
      },
      get(server),
    )
    assert.equal(stats.completed, 2500)
    const correctedP99 = stats.corrected.percentile(99) / 1000
    const rawP99 = stats.raw.percentile(99) / 1000
    const rawMax = stats.raw.percentile(100) / 1000
    // ~100 requests were due during the stall (4 % of the run): the corrected p99 lands in it.
    assert.ok(correctedP99 >= 100, `corrected p99 ${correctedP99} ms`)
    // Only the 8 requests on the wire waited (0.3 %): the raw p99 does not see it, its max does.
    assert.ok(rawP99 < 50, `raw p99 ${rawP99} ms`)
    assert.ok(rawMax >= 150, `raw max ${rawMax} ms`)
  })
})
