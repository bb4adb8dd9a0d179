#!/usr/bin/env node
// npm run bench:gateway — what the order gateway does on this machine, until `poc bench` exists.
// Brings up its own RabbitMQ + gateway (fresh POC_HOME, port offset 5650) and measures, with
// autocannon in this process:
//   1. max throughput of POST /orders (valid token, a unique Idempotency-Key per request) next to
//      a bare node:http server answering the same JSON, same tool, same connections, same run
//      (alternated, best of two each);
//   2. after `poc reset --gateway` (which also clears the gateway's histograms), a constant
//      5,000 orders/s: the gateway's own fast_path_processing p50/p99/p999 and durable_ack p99;
//   3. the cost of the synchronous mode (AUDIT_ASYNC_WAL=false: each 202 waits for its order's
//      fdatasync): max throughput and the client's latency at the same constant rate.
//   npm run bench:gateway                  # 10 s per throughput run, 20 s at 5,000/s
//   npm run bench:gateway -- 5 10 3000     # throughput seconds, rate seconds, rate
// Needs `npm run build`. Prints a table and, last, one JSON line with every number.
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import autocannon from 'autocannon'

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

function orderRequests(token, prefix) {
  let i = 0
  // Both sides around one price, so the books match and rest as real flow would.
  const bodies = Array.from({length: 20}, (_, k) =>
    JSON.stringify({
      symbol: 'BTC',
      side: k % 2 ? 'BUY' : 'SELL',
      type: 'LIMIT',
      qty: 1,
      price: 95 + (k % 10),
    }),
  )
  return [
    {
      method: 'POST',
      path: '/orders',
      setupRequest: (request) => {
        i++
        request.body = bodies[i % bodies.length]
        request.headers = {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'idempotency-key': `${prefix}-${i}`,
        }
        return request
      },
    },
  ]
}

async function load(url, options) {
  const result = await autocannon({url, connections, ...options})
  const statuses = {
    '2xx': result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  }
  return {
    requestsPerSec: Math.round(result.requests.average),
    total: result.requests.total,
    latencyMs: {p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max},
    statuses,
  }
}

async function gatewayMetrics() {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text()
  const value = (name) => Number(text.match(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm'))?.[1] ?? NaN)
  const triple = (name) => ({
    p50: value(`gateway_${name}_p50_us`),
    p99: value(`gateway_${name}_p99_us`),
    p999: value(`gateway_${name}_p999_us`),
    count: value(`gateway_${name}_seconds_count`),
  })
  return {
    fast_path_processing: triple('fast_path_processing'),
    ack: triple('ack'),
    wal_enqueue: triple('wal_enqueue'),
    durable_ack: triple('durable_ack'),
    fdatasync: triple('fdatasync'),
  }
}

let bare
try {
  process.stderr.write(`bench:gateway: bringing up RabbitMQ and the gateway in ${home} (offset ${offset})\n`)
  // One account sends everything here: lift its token bucket so the limit is the gateway, not the policy.
  poc(['up', '--only', 'gateway', '--port-offset', String(offset)], {
    RATE_LIMIT_PER_SEC: '1000000000',
    RATE_LIMIT_BURST: '1000000000',
  })
  const token = poc(['token', '--account', 'bench']).trim().split('\n').at(-1)
  bare = spawn('node', ['-e', bareServer], {stdio: ['ignore', 'pipe', 'inherit']})
  await new Promise((resolve) => bare.stdout.once('data', resolve))

  process.stderr.write(`warming up both for 3 s\n`)
  await load(gatewayUrl, {duration: 3, requests: orderRequests(token, 'warm')})
  await load(`http://127.0.0.1:${barePort}`, {duration: 3, requests: orderRequests(token, 'warm')})

  // Alternated and best of two each: the gateway's background work (outbox, fdatasync) after
  // its run, or anything else on this machine, must not decide the ratio.
  process.stderr.write(
    `max throughput: ${maxSeconds} s per run, ${connections} connections, bare and gateway twice each\n`,
  )
  const best = (a, b) => (!a || b.requestsPerSec > a.requestsPerSec ? b : a)
  let bareMax
  let gatewayMax
  for (let round = 1; round <= 2; round++) {
    bareMax = best(
      bareMax,
      await load(`http://127.0.0.1:${barePort}`, {
        duration: maxSeconds,
        requests: orderRequests(token, `bare${round}`),
      }),
    )
    gatewayMax = best(
      gatewayMax,
      await load(gatewayUrl, {duration: maxSeconds, requests: orderRequests(token, `max${round}`)}),
    )
    await delay(2000)
  }
  bare.kill()
  bare = undefined

  // After a reset (which also clears the gateway's histograms): the client's figures and the server's.
  const atRate = async (prefix) => {
    poc(['reset', '--yes', '--gateway'])
    await delay(500)
    const client = await load(gatewayUrl, {
      duration: rateSeconds,
      overallRate: rate,
      requests: orderRequests(token, prefix),
    })
    await delay(500)
    return {client, server: await gatewayMetrics()}
  }
  process.stderr.write(`reset the gateway, then ${rate} orders/s for ${rateSeconds} s\n`)
  const {client: steady, server} = await atRate('rate')

  process.stderr.write(`synchronous mode (AUDIT_ASYNC_WAL=false): max throughput, then ${rate}/s\n`)
  poc(['down', '--only', 'gateway'])
  poc(['up', '--only', 'gateway', '--port-offset', String(offset)], {
    RATE_LIMIT_PER_SEC: '1000000000',
    RATE_LIMIT_BURST: '1000000000',
    AUDIT_ASYNC_WAL: 'false',
  })
  const syncMax = await load(gatewayUrl, {duration: maxSeconds, requests: orderRequests(token, 'syncmax')})
  const {client: syncSteady, server: syncServer} = await atRate('syncrate')

  const ratio = gatewayMax.requestsPerSec / bareMax.requestsPerSec
  const rows = [
    [
      'max POST /orders, gateway',
      `${gatewayMax.requestsPerSec} req/s`,
      `p50 ${gatewayMax.latencyMs.p50} ms, p99 ${gatewayMax.latencyMs.p99} ms`,
      `non-2xx ${gatewayMax.statuses.non2xx}`,
    ],
    [
      'max, bare node:http',
      `${bareMax.requestsPerSec} req/s`,
      `p50 ${bareMax.latencyMs.p50} ms, p99 ${bareMax.latencyMs.p99} ms`,
      `non-2xx ${bareMax.statuses.non2xx}`,
    ],
    ['ratio gateway / bare', ratio.toFixed(2), '', ''],
    [
      `at ${rate}/s: sent`,
      `${steady.requestsPerSec} req/s`,
      `p50 ${steady.latencyMs.p50} ms, p99 ${steady.latencyMs.p99} ms`,
      `non-2xx ${steady.statuses.non2xx}`,
    ],
    ...Object.entries(server).map(([name, v]) => [
      `at ${rate}/s: ${name}`,
      `p50 ${v.p50} µs`,
      `p99 ${v.p99} µs`,
      `p999 ${v.p999} µs (n=${v.count})`,
    ]),
    [
      'sync mode: max POST /orders',
      `${syncMax.requestsPerSec} req/s`,
      `p50 ${syncMax.latencyMs.p50} ms, p99 ${syncMax.latencyMs.p99} ms`,
      `${(syncMax.requestsPerSec / gatewayMax.requestsPerSec).toFixed(2)} of async`,
    ],
    [
      `sync mode at ${rate}/s: sent`,
      `${syncSteady.requestsPerSec} req/s`,
      `p50 ${syncSteady.latencyMs.p50} ms, p99 ${syncSteady.latencyMs.p99} ms`,
      `non-2xx ${syncSteady.statuses.non2xx}`,
    ],
    [
      `sync mode at ${rate}/s: ack`,
      `p50 ${syncServer.ack.p50} µs`,
      `p99 ${syncServer.ack.p99} µs`,
      `fdatasync p99 ${syncServer.fdatasync.p99} µs`,
    ],
  ]
  for (const row of rows) console.log(row.map((cell, i) => String(cell).padEnd([32, 16, 34, 0][i])).join(' '))
  console.log(
    JSON.stringify({
      gatewayMax,
      bareMax,
      ratio: Number(ratio.toFixed(3)),
      rate,
      steady,
      server,
      sync: {max: syncMax, steady: syncSteady, server: syncServer},
    }),
  )
} finally {
  bare?.kill()
  spawnSync('node', [path.join(root, 'bin/run.js'), 'down'], {env: {...process.env, POC_HOME: home}})
  // The WAL is evidence while debugging a bad run; it is gone with the home otherwise.
  if (!process.env.KEEP_BENCH_HOME) rmSync(home, {recursive: true, force: true})
}
