#!/usr/bin/env node
// npm run bench:sse — how many concurrent SSE clients pm's /metrics/stream serves on this machine
// with every client getting its first event within 5 s, and the broadcast fan-out delay p99 at
// that size. Brings up its own pm (fresh POC_HOME, port offset 5700), then for each step runs
// `poc stress sse --clients N --timeout 5s --ramp N/2000 s --duration 5s` while a project is created
// every 250 ms (each one is a broadcast to every client), and stops at the first step below 100 %.
//   npm run bench:sse                    # 1000 2000 4000 6000 8000
//   npm run bench:sse -- 500 1000 3000   # other steps
// Needs `npm run build`. Prints a line per step and, last, one JSON line with every step.
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'

const root = path.resolve(import.meta.dirname, '..')
const offset = 5700
const steps = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0)
const sizes = steps.length > 0 ? steps : [1000, 2000, 4000, 6000, 8000]
const home = mkdtempSync(path.join(os.tmpdir(), 'poc-bench-sse-'))
const pm = `http://127.0.0.1:${3001 + offset}`
// pm refuses more than 1024 streams per address by default; every client here comes from 127.0.0.1.
const env = {SSE_MAX_CLIENTS_PER_IP: '100000', ...process.env, POC_HOME: home, NO_COLOR: '1'}

function poc(args) {
  const result = spawnSync('node', [path.join(root, 'bin/run.js'), ...args], {env, encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`poc ${args.join(' ')} exited ${result.status}:\n${result.stderr}`)
  return result.stdout
}

function stress(clients) {
  return new Promise((resolve, reject) => {
    const args = ['stress', 'sse', '--clients', String(clients), '--timeout', '5s']
    args.push('--ramp', `${Math.ceil(clients / 2000)}s`, '--duration', '5s', '--json')
    const child = spawn('node', [path.join(root, 'bin/run.js'), ...args], {env})
    let out = ''
    child.stdout.on('data', (chunk) => (out += chunk))
    child.stderr.pipe(process.stderr)
    child.on('close', () => {
      try {
        resolve(JSON.parse(out))
      } catch (error) {
        reject(new Error(`stress printed no JSON: ${out.slice(0, 500)}`, {cause: error}))
      }
    })
  })
}

const results = []
try {
  process.stderr.write(`bench:sse: bringing up pm in ${home} (offset ${offset})\n`)
  poc(['up', '--only', 'pm', '--port-offset', String(offset)])
  for (const clients of sizes) {
    let broadcasting = true
    const broadcasts = (async () => {
      for (let i = 0; broadcasting; i++) {
        await fetch(`${pm}/api/v1/projects`, {
          method: 'POST',
          headers: {'content-type': 'application/json'},
          body: JSON.stringify({projectCode: `SSE-${clients}-${Date.now()}-${i}`, projectName: 'bench'}),
        }).catch(() => undefined)
        await delay(250)
      }
    })()
    const result = await stress(clients)
    broadcasting = false
    await broadcasts
    const row = {
      clients,
      succeeded: result.succeeded,
      successRatio: result.successRatio,
      firstEventMs: result.firstEventMs,
      fanoutMs: result.fanout,
      disconnects: result.disconnects,
      errors: result.errors,
    }
    results.push(row)
    console.log(
      `${String(clients).padStart(6)} clients: ${(result.successRatio * 100).toFixed(1)} % first event ≤ 5 s ` +
        `(p99 ${result.firstEventMs.p99} ms), fan-out p50 ${result.fanout?.p50} ms p99 ${result.fanout?.p99} ms ` +
        `over ${result.fanout?.events} broadcasts, disconnects ${result.disconnects}`,
    )
    if (result.successRatio < 1) break
    await delay(2000)
  }
  const held = results.filter((r) => r.successRatio === 1).at(-1)
  console.log(
    held
      ? `largest size with every first event within 5 s: ${held.clients} clients, fan-out p99 ${held.fanoutMs?.p99} ms`
      : 'no size had every first event within 5 s',
  )
  console.log(JSON.stringify({steps: results, largest: held?.clients ?? 0}))
} finally {
  spawnSync('node', [path.join(root, 'bin/run.js'), 'down'], {env})
  rmSync(home, {recursive: true, force: true})
}
