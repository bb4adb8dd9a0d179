#!/usr/bin/env node
// npm run bench:up — how long `poc up --only rabbitmq,redis` takes from cold (fresh POC_HOME,
// no data) until both are healthy, next to RabbitMQ's own boot to an open AMQP port measured
// the same way (same config from the catalog, no poc in between), and how long `poc down` takes.
// Prints the median of N runs (default 5; `npm run bench:up -- 3`). Needs `npm run build`.
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const runs = Number(process.argv[2] ?? 5)
const offset = 3000
const {getComponent} = await import(path.join(root, 'dist/stack/catalog.js'))
const {componentContext} = await import(path.join(root, 'dist/stack/context.js'))
const {homeAt} = await import(path.join(root, 'dist/stack/home.js'))
const {resolveBinaries, stopProcesses} = await import(path.join(root, 'dist/stack/native.js'))
const {readStat} = await import(path.join(root, 'dist/stack/proc.js'))

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const seconds = (ms) => `${(ms / 1000).toFixed(2)}s`

function poc(home, args) {
  const t0 = performance.now()
  const result = spawnSync('node', [path.join(root, 'bin/run.js'), ...args], {
    env: {...process.env, POC_HOME: home},
    encoding: 'utf8',
  })
  if (result.status !== 0) throw new Error(`poc ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`)
  return performance.now() - t0
}

async function untilOpen(port) {
  for (;;) {
    const open = await new Promise((resolve) => {
      const socket = net.connect({host: '127.0.0.1', port}, () => {
        socket.end()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (open) return
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function rawRabbitBoot() {
  const home = homeAt(mkdtempSync(path.join(os.tmpdir(), 'poc-bench-raw-')))
  const spec = getComponent('rabbitmq')
  const ctx = {...componentContext('rabbitmq', home, offset), logFile: '/dev/null'}
  await spec.native.prepare(ctx)
  const t0 = performance.now()
  const records = spec.native.processes(ctx, resolveBinaries(spec.native.binaries)).map((p) => {
    const child = spawn(p.command, p.args, {
      cwd: p.cwd,
      env: {PATH: process.env.PATH, ...p.env},
      detached: true,
      stdio: 'ignore',
    })
    child.unref()
    return {
      role: p.role,
      pid: child.pid,
      startTicks: readStat(child.pid)?.startTicks ?? 0,
      command: p.command,
    }
  })
  await untilOpen(ctx.ports.amqp)
  const elapsed = performance.now() - t0
  await stopProcesses(records, 30_000)
  rmSync(home.root, {recursive: true, force: true})
  return elapsed
}

const up = []
const down = []
const raw = []
for (let i = 1; i <= runs; i++) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'poc-bench-'))
  up.push(poc(home, ['up', '--only', 'rabbitmq,redis', '--port-offset', String(offset), '--json']))
  down.push(poc(home, ['down', '--json']))
  rmSync(home, {recursive: true, force: true})
  raw.push(await rawRabbitBoot())
  console.log(
    `run ${i}/${runs}: poc up ${seconds(up.at(-1))}, poc down ${seconds(down.at(-1))}, rabbitmq alone to AMQP port ${seconds(raw.at(-1))}`,
  )
}
console.log(`\nmedian of ${runs} cold runs (${os.cpus().length} cores, node ${process.versions.node}):`)
console.log(`  poc up --only rabbitmq,redis until healthy   ${seconds(median(up))}`)
console.log(`  rabbitmq-server alone, to an open AMQP port  ${seconds(median(raw))}`)
console.log(`  poc up overhead                              ${seconds(median(up) - median(raw))}`)
console.log(`  poc down                                     ${seconds(median(down))}`)
