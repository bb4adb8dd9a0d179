#!/usr/bin/env node
// npm run bench:gateway — what the order gateway does on this machine.
// Brings up its own RabbitMQ + gateway (fresh POC_HOME, port offset 5650) and measures:
//   1. max throughput of POST /orders (valid token, a unique Idempotency-Key per request) next to
//      a bare node:http server answering the same JSON, with wrk (1 thread, 64 connections; a Lua
//      script gives every request its own key), 3 interleaved rounds: the generator is a C program
//      in its own process, and its CPU share is printed, so the figure is the server's;
//   2. after `poc reset --gateway` (which also clears the gateway's histograms), a constant
//      5,000 orders/s from `poc bench` (its own process): the gateway's own fast-path p50/p99/p999,
//      and durable-ack p99 next to fdatasync p99 of the same run;
//   3. the cost of the synchronous mode (AUDIT_ASYNC_WAL=false: each 202 waits for its order's
//      fdatasync): max throughput and the same constant rate.
//   npm run bench:gateway                  # 10 s per throughput run, 20 s at 5,000/s
//   npm run bench:gateway -- 5 10 3000     # throughput seconds, rate seconds, rate
// Needs `npm run build` and wrk (apt-get install wrk). Prints a table and, last, one JSON line
// with every number, the generators' CPU shares and the load average of each part.
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import {LatencyHistogram} from '../dist/contract/latency.js'

const root = path.resolve(import.meta.dirname, '..')
const offset = 5650
const [maxSeconds = 10, rateSeconds = 20, rate = 5000] = process.argv.slice(2).map(Number)
const connections = 64
const home = mkdtempSync(path.join(os.tmpdir(), 'poc-bench-gateway-'))
const gatewayUrl = `http://127.0.0.1:${8081 + offset}`
const barePort = 8081 + offset + 1

function poc(args, extraEnv = {}) {
  const result = spawnSync('node', [path.join(root, 'bin/run.js'), ...args], {
    env: {...process.env, POC_HOME: home, ...extraEnv},
    encoding: 'utf8',
  })
  if (result.status !== 0) throw new Error(`poc ${args.join(' ')} exited ${result.status}:\n${result.stderr}`)
  return result.stdout
}

// The same answer the gateway gives, after reading and parsing the body as it does.
const bareServer = `
const http = require('node:http')
let n = 0
http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}')
    n++
    const json = JSON.stringify({orderId: 'ORD-' + String(n).padStart(10, '0'), acceptSeq: n, requestId: 'req-' + n, clientOrderId: body.clientOrderId, status: 'ACCEPTED'})
    res.writeHead(202, {'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json)})
    res.end(json)
  })
}).listen(${barePort}, '127.0.0.1', () => console.log('ready'))
`

// Both sides around one price, so the books match and rest as real flow would.
const wrkScript = `
local token = os.getenv("BENCH_TOKEN")
local prefix = os.getenv("BENCH_PREFIX")
local n = 0
local bodies = {}
for k = 0, 19 do
  local side = "SELL"
  if k % 2 == 1 then side = "BUY" end
  bodies[k + 1] = string.format('{"symbol":"BTC","side":"%s","type":"LIMIT","qty":1,"price":%d}', side, 95 + (k % 10))
end
request = function()
  n = n + 1
  return wrk.format("POST", "/orders", {
    ["content-type"] = "application/json",
    ["authorization"] = "Bearer " .. token,
    ["idempotency-key"] = prefix .. "-" .. n,
  }, bodies[(n % 20) + 1])
end
`
const wrkScriptPath = path.join(home, 'orders.lua')

/** CPU seconds of this process's waited-for children so far (utime + stime of /proc/self/stat). */
function childrenCpuSeconds() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')
  // After "pid (comm) ", cutime and cstime are fields 14 and 15 (0-based 13, 14), in clock ticks.
  return (Number(fields[13]) + Number(fields[14])) / 100
}

function loadAverage() {
  return os.loadavg()[0].toFixed(2)
}

/** CPU seconds of each thread of `pid` (utime + stime of /proc/<pid>/task/<tid>/stat), by tid. */
function threadCpuSeconds(pid) {
  const cpu = new Map()
  if (pid === undefined) return cpu
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')
      cpu.set(tid, (Number(fields[11]) + Number(fields[12])) / 100)
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return cpu
}

/** The pid of the process listening on 127.0.0.1:`port` (ss -ltnp). */
function listenerPid(port) {
  const out = spawnSync('ss', ['-ltnpH', `sport = :${port}`], {encoding: 'utf8'}).stdout ?? ''
  const pid = out.match(/pid=(\d+)/)?.[1]
  return pid === undefined ? undefined : Number(pid)
}

/**
 * CPU µs per request of the server's event loop (its main thread) and of its other threads
 * (the gateway's WAL thread, libuv's pool, V8's GC helpers): what each answer costs, whatever
 * else the shared machine runs meanwhile.
 */
function cpuPerRequest(pid, before, after, requests) {
  let main = 0
  let other = 0
  for (const [tid, seconds] of after) {
    const used = seconds - (before.get(tid) ?? 0)
    if (Number(tid) === pid) main += used
    else other += used
  }
  const us = (seconds) => Number(((seconds * 1e6) / requests).toFixed(1))
  return {mainUs: us(main), otherThreadsUs: us(other), totalUs: us(main + other)}
}

/** wrk's closed-loop maximum against `url`, with the CPU share wrk itself used. */
function wrkMax(url, token, prefix, serverPid) {
  const cpuBefore = childrenCpuSeconds()
  const serverBefore = threadCpuSeconds(serverPid)
  const started = performance.now()
  const result = spawnSync(
    'wrk',
    ['-t1', `-c${connections}`, `-d${maxSeconds}s`, '-s', wrkScriptPath, `${url}/orders`],
    {encoding: 'utf8', env: {...process.env, BENCH_TOKEN: token, BENCH_PREFIX: prefix}},
  )
  if (result.error || result.status !== 0) {
    throw new Error(`wrk failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}`)
  }
  const seconds = (performance.now() - started) / 1000
  const serverAfter = threadCpuSeconds(serverPid)
  const requests = Number(result.stdout.match(/(\d+) requests in/)?.[1] ?? NaN)
  const requestsPerSec = Math.round(Number(result.stdout.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN))
  const non2xx = Number(result.stdout.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0)
  const socketErrors = result.stdout.match(/Socket errors:.*/)?.[0]
  return {
    requestsPerSec,
    non2xx,
    ...(socketErrors ? {socketErrors} : {}),
    ...(serverPid === undefined
      ? {}
      : {serverCpu: cpuPerRequest(serverPid, serverBefore, serverAfter, requests)}),
    generatorCpuShare: Number(((childrenCpuSeconds() - cpuBefore) / seconds).toFixed(2)),
    load: loadAverage(),
  }
}

async function histograms() {
  const response = await fetch(`${gatewayUrl}/metrics/hdr`)
  return (await response.json()).histograms
}

/** `poc bench` at a constant rate, in its own process: its result file and its own CPU share. */
async function benchAtRate(prefix, serverPid) {
  const out = path.join(home, `${prefix}.json`)
  const cpuBefore = childrenCpuSeconds()
  const serverBefore = threadCpuSeconds(serverPid)
  // The 202's own latency (received → answer written) is not in poc bench's result: read it here.
  const hdrBefore = await histograms()
  const started = performance.now()
  poc(['bench', '--rate', String(rate), '--duration', `${rateSeconds}s`, '--out', out, '--json'])
  const seconds = (performance.now() - started) / 1000
  const hdrAfter = await histograms()
  const serverAfter = threadCpuSeconds(serverPid)
  const ack = LatencyHistogram.between(hdrBefore.ack, hdrAfter.ack)
  const result = JSON.parse(readFileSync(out, 'utf8'))
  const http = result.metrics.http
  const queue = result.metrics.persistence_queue
  return {
    client: {
      sentPerSec: Math.round(http.achieved_rate),
      late: http.late_sends,
      unsent: http.unsent,
      correctedP99Us: http.corrected_latency_us.p99,
      statuses: http.status_counts,
      valid: result.measurement.valid,
    },
    serverCpu: cpuPerRequest(
      serverPid,
      serverBefore,
      serverAfter,
      Object.values(http.status_counts).reduce((a, b) => a + b, 0),
    ),
    server: {
      ack: {...ack.percentiles(), count: ack.count},
      fast_path_processing: result.metrics.fast_path.process_latency_us,
      durable_ack: queue.durable_ack_latency_us,
      fdatasync: queue.fdatasync_latency_us,
      wal_enqueue: queue.wal_enqueue_latency_us,
    },
    generatorCpuShare: Number(((childrenCpuSeconds() - cpuBefore) / seconds).toFixed(2)),
    load: loadAverage(),
  }
}

let bare
try {
  if (spawnSync('wrk', ['--version']).error) {
    console.error('bench:gateway needs wrk: apt-get install wrk (npm run setup installs it)')
    process.exit(1)
  }
  writeFileSync(wrkScriptPath, wrkScript)
  process.stderr.write(`bench:gateway: bringing up RabbitMQ and the gateway in ${home} (offset ${offset})\n`)
  // One account sends everything here: lift its token bucket so the limit is the gateway, not the policy.
  const unlimited = {RATE_LIMIT_PER_SEC: '1000000000', RATE_LIMIT_BURST: '1000000000'}
  poc(['up', '--only', 'gateway', '--port-offset', String(offset)], unlimited)
  const token = poc(['token', '--account', 'bench']).trim().split('\n').at(-1)
  let gatewayPid = listenerPid(8081 + offset)
  bare = spawn('node', ['-e', bareServer], {stdio: ['ignore', 'pipe', 'inherit']})
  await new Promise((resolve) => bare.stdout.once('data', resolve))
  const bareUrl = `http://127.0.0.1:${barePort}`

  process.stderr.write(`warming up both\n`)
  wrkMax(gatewayUrl, token, 'warm-gw', gatewayPid)
  wrkMax(bareUrl, token, 'warm-bare', bare.pid)

  // Interleaved rounds: the gateway's background work (outbox, fdatasync) after its run, or
  // anything else on this machine, falls on both alike; the ratio is of the medians.
  process.stderr.write(`max throughput: wrk, 3 rounds of ${maxSeconds} s each, bare and gateway in turn\n`)
  const rounds = []
  for (let round = 1; round <= 3; round++) {
    const bareRun = wrkMax(bareUrl, token, `bare${round}`, bare.pid)
    const gatewayRun = wrkMax(gatewayUrl, token, `max${round}`, gatewayPid)
    rounds.push({
      bare: bareRun,
      gateway: gatewayRun,
      ratio: Number((gatewayRun.requestsPerSec / bareRun.requestsPerSec).toFixed(3)),
    })
    process.stderr.write(
      `  round ${round}: gateway ${gatewayRun.requestsPerSec}/s, bare ${bareRun.requestsPerSec}/s, ratio ${rounds.at(-1).ratio}, load ${gatewayRun.load}\n`,
    )
    await delay(2000)
  }
  // Waited for before the next CPU figure: a child's CPU counts in cutime when it is reaped, and
  // the bare server's would otherwise land in the generator's share of the run at a fixed rate.
  const bareExited = new Promise((resolve) => bare.once('exit', resolve))
  bare.kill()
  await bareExited
  bare = undefined
  const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]
  const gatewayMax = median(rounds.map((r) => r.gateway.requestsPerSec))
  const bareMax = median(rounds.map((r) => r.bare.requestsPerSec))
  const ratio = gatewayMax / bareMax

  const atRate = async (prefix) => {
    poc(['reset', '--yes', '--gateway'])
    return benchAtRate(prefix, gatewayPid)
  }
  process.stderr.write(`reset the gateway, then poc bench at ${rate} orders/s for ${rateSeconds} s\n`)
  const steady = await atRate('rate')

  process.stderr.write(`synchronous mode (AUDIT_ASYNC_WAL=false): max throughput, then ${rate}/s\n`)
  poc(['down', '--only', 'gateway'])
  poc(['up', '--only', 'gateway', '--port-offset', String(offset)], {...unlimited, AUDIT_ASYNC_WAL: 'false'})
  gatewayPid = listenerPid(8081 + offset)
  const syncMax = wrkMax(gatewayUrl, token, 'syncmax', gatewayPid)
  const syncSteady = await atRate('syncrate')

  const pct = (v) => [`p50 ${v.p50} µs`, `p99 ${v.p99} µs`, `p999 ${v.p999} µs (n=${v.count ?? '?'})`]
  const rows = [
    ...rounds.map((r, i) => [
      `round ${i + 1}: gateway / bare`,
      `${r.gateway.requestsPerSec} / ${r.bare.requestsPerSec}`,
      `ratio ${r.ratio}`,
      `wrk CPU ${r.gateway.generatorCpuShare} / ${r.bare.generatorCpuShare} core, load ${r.gateway.load}`,
    ]),
    [
      'max POST /orders (median)',
      `${gatewayMax} req/s`,
      `bare node:http ${bareMax} req/s`,
      `non-2xx ${rounds.map((r) => r.gateway.non2xx).join('/')}`,
    ],
    ['ratio gateway / bare', ratio.toFixed(2), '', ''],
    ...rounds.map((r, i) => [
      `round ${i + 1}: CPU µs per request`,
      `gateway ${r.gateway.serverCpu.totalUs}`,
      `event loop ${r.gateway.serverCpu.mainUs} + other threads ${r.gateway.serverCpu.otherThreadsUs}`,
      `bare ${r.bare.serverCpu.totalUs} (event loop ${r.bare.serverCpu.mainUs})`,
    ]),
    [
      `at ${rate}/s: poc bench sent`,
      `${steady.client.sentPerSec} req/s`,
      `late ${steady.client.late}, unsent ${steady.client.unsent}`,
      `generator CPU ${steady.generatorCpuShare} core, load ${steady.load}, valid ${steady.client.valid}`,
    ],
    ...Object.entries(steady.server).map(([name, v]) => [`at ${rate}/s: ${name}`, ...pct(v)]),
    [
      `at ${rate}/s: gateway CPU µs per order`,
      `${steady.serverCpu.totalUs}`,
      `event loop ${steady.serverCpu.mainUs} + other threads ${steady.serverCpu.otherThreadsUs}`,
      '',
    ],
    [
      `at ${rate}/s: durable ack / fdatasync`,
      `p99 ratio ${(steady.server.durable_ack.p99 / steady.server.fdatasync.p99).toFixed(2)}`,
      '',
      '',
    ],
    [
      'sync mode: max POST /orders',
      `${syncMax.requestsPerSec} req/s`,
      `${(syncMax.requestsPerSec / gatewayMax).toFixed(2)} of async`,
      `non-2xx ${syncMax.non2xx}`,
    ],
    [
      `sync mode at ${rate}/s: sent`,
      `${syncSteady.client.sentPerSec} req/s`,
      `corrected p99 ${syncSteady.client.correctedP99Us} µs`,
      `late ${syncSteady.client.late}, unsent ${syncSteady.client.unsent}`,
    ],
    [`sync mode at ${rate}/s: durable ack`, ...pct(syncSteady.server.durable_ack)],
    [`sync mode at ${rate}/s: fdatasync`, ...pct(syncSteady.server.fdatasync)],
  ]
  for (const row of rows) console.log(row.map((cell, i) => String(cell).padEnd([36, 20, 34, 0][i])).join(' '))
  console.log(
    JSON.stringify({
      rounds,
      gatewayMax,
      bareMax,
      ratio: Number(ratio.toFixed(3)),
      rate,
      steady,
      sync: {max: syncMax, steady: syncSteady},
    }),
  )
} finally {
  bare?.kill()
  spawnSync('node', [path.join(root, 'bin/run.js'), 'down'], {env: {...process.env, POC_HOME: home}})
  // The WAL is evidence while debugging a bad run; it is gone with the home otherwise.
  if (!process.env.KEEP_BENCH_HOME) rmSync(home, {recursive: true, force: true})
}
