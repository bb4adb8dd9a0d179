#!/usr/bin/env node
// npm run bench:up — how long `poc up` of the default set takes from cold (fresh POC_HOME, no
// data) until everything is healthy, next to `poc up --only rabbitmq` (RabbitMQ alone to ready,
// the reference) measured the same way in the same run; what each service took in that `poc up`
// once its dependencies were ready; each service alone from spawn to a healthy GET /health
// (against that run's stack, one at a time); and `poc down`. Prints medians of N runs (default 3) and
// the load average during the run. RabbitMQ's own boot varies by seconds between runs on a loaded
// machine, so the figure for the rest is also taken inside each `poc up`: from the moment its first
// wave (RabbitMQ, Redis) was ready, the waves after it (each as long as its slowest member).
//   npm run bench:up                                   # 3 runs
//   npm run bench:up -- 5                              # 5 runs
//   npm run bench:up -- 3 --against /other/bin/run.js  # another build in the same runs (before/after)
// Needs `npm run build`. Uses port offset 3000 (POC_BENCH_PORT_OFFSET to change it).
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const args = process.argv.slice(2)
const against = args.includes('--against') ? path.resolve(args[args.indexOf('--against') + 1]) : undefined
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 3)
const offset = Number(process.env.POC_BENCH_PORT_OFFSET ?? 3000)
const builds = [{label: 'this build', bin: path.join(root, 'bin/run.js')}]
if (against) builds.push({label: `against ${against}`, bin: against})

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const seconds = (ms) => (ms === undefined ? '   n/a' : `${(ms / 1000).toFixed(2)}s`)
const loads = []
const sampleLoad = () => loads.push(os.loadavg()[0])

function poc(bin, home, pocArgs) {
  sampleLoad()
  const t0 = performance.now()
  const result = spawnSync('node', [bin, ...pocArgs], {
    env: {...process.env, POC_HOME: home},
    encoding: 'utf8',
  })
  const ms = performance.now() - t0
  if (result.status !== 0)
    throw new Error(`poc ${pocArgs.join(' ')} failed:\n${result.stdout}${result.stderr}`)
  return {ms, json: pocArgs.includes('--json') ? JSON.parse(result.stdout) : undefined}
}

/** CPU time (user + system) a process has used so far, in ms (/proc/<pid>/stat, 10 ms ticks). */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/**
 * One service started alone (the way the build's catalog starts it), from spawn to a healthy
 * /health, and the CPU it used until then: on a shared machine the CPU is the steadier figure.
 */
async function serviceAlone(build, home, name, port) {
  const buildRoot = path.resolve(path.dirname(build.bin), '..')
  const {getComponent, serviceEnvironment} = await import(path.join(buildRoot, 'dist/stack/catalog.js'))
  const {componentContext} = await import(path.join(buildRoot, 'dist/stack/context.js'))
  const {homeAt} = await import(path.join(buildRoot, 'dist/stack/home.js'))
  const spec = getComponent(name)
  const ctx = componentContext(name, homeAt(home), offset)
  const [processSpec] = spec.native.processes(ctx, {})
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `poc-bench-${name}-`))
  const env = {
    PATH: process.env.PATH,
    ...serviceEnvironment(spec, ctx),
    PORT: String(port),
    DATA_DIR: dataDir,
  }
  sampleLoad()
  const t0 = performance.now()
  const child = spawn(processSpec.command, processSpec.args, {env, cwd: dataDir, stdio: 'ignore'})
  const exited = new Promise((resolve) => child.once('exit', resolve))
  let ready
  let cpu
  while (ready === undefined && child.exitCode === null) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`)
      if (response.ok) {
        ready = performance.now() - t0
        cpu = cpuMs(child.pid)
      }
    } catch {
      // not listening yet
    }
    if (ready === undefined) await new Promise((resolve) => setTimeout(resolve, 5))
  }
  child.kill('SIGTERM')
  await exited
  rmSync(dataDir, {recursive: true, force: true})
  return {ready, cpu}
}

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** In one `poc up --json`: the waves after the first (RabbitMQ, Redis), each as long as its slowest member. */
async function afterFirstWave(build, components) {
  const buildRoot = path.resolve(path.dirname(build.bin), '..')
  const {startWaves} = await import(path.join(buildRoot, 'dist/stack/catalog.js'))
  const readyMs = Object.fromEntries(components.map((c) => [c.name, c.readyMs]))
  const waves = startWaves(components.filter((c) => c.readyMs !== undefined).map((c) => c.name))
  return waves.slice(1).reduce((sum, wave) => sum + Math.max(...wave.map((name) => readyMs[name])), 0)
}

const figures = builds.map(() => ({
  up: [],
  rabbit: [],
  afterFirst: [],
  down: [],
  services: {},
  alone: {},
  aloneCpu: {},
}))
for (let i = 1; i <= runs; i++) {
  for (const [b, build] of builds.entries()) {
    const f = figures[b]
    const rabbitHome = mkdtempSync(path.join(os.tmpdir(), 'poc-bench-rabbit-'))
    f.rabbit.push(
      poc(build.bin, rabbitHome, ['up', '--only', 'rabbitmq', '--port-offset', String(offset), '--json']).ms,
    )
    poc(build.bin, rabbitHome, ['down', '--json'])
    rmSync(rabbitHome, {recursive: true, force: true})

    const home = mkdtempSync(path.join(os.tmpdir(), 'poc-bench-up-'))
    const up = poc(build.bin, home, ['up', '--port-offset', String(offset), '--json'])
    f.up.push(up.ms)
    f.afterFirst.push(await afterFirstWave(build, up.json.components))
    for (const c of up.json.components) {
      if (c.readyMs === undefined || ['rabbitmq', 'redis'].includes(c.name)) continue
      ;(f.services[c.name] ??= []).push(c.readyMs)
    }
    // Each service alone against this stack, one after the other, on a spare port.
    for (const name of Object.keys(f.services)) {
      const alone = await serviceAlone(build, home, name, await freePort())
      ;(f.alone[name] ??= []).push(alone.ready)
      if (alone.cpu !== undefined) (f.aloneCpu[name] ??= []).push(alone.cpu)
    }
    f.down.push(poc(build.bin, home, ['down', '--json']).ms)
    rmSync(home, {recursive: true, force: true})
    console.log(
      `run ${i}/${runs} ${build.label}: poc up ${seconds(up.ms)}, rabbitmq alone ${seconds(f.rabbit.at(-1))}, ` +
        `after its first wave ${seconds(f.afterFirst.at(-1))}, ` +
        `poc down ${seconds(f.down.at(-1))} (${up.json.runtime}; load ${os.loadavg()[0].toFixed(2)})`,
    )
  }
}

const summary = []
console.log(`\nmedian of ${runs} cold runs (${os.cpus().length} cores, node ${process.versions.node}):`)
for (const [b, build] of builds.entries()) {
  const f = figures[b]
  const up = median(f.up)
  const rabbit = median(f.rabbit)
  console.log(`${build.label}:`)
  console.log(`  poc up (default set) until healthy          ${seconds(up)}`)
  console.log(`  poc up --only rabbitmq until healthy        ${seconds(rabbit)}`)
  console.log(
    `  difference: the rest after RabbitMQ         ${seconds(up - rabbit)}   ratio ${(up / rabbit).toFixed(2)}`,
  )
  console.log(`  in each poc up, the waves after RabbitMQ    ${seconds(median(f.afterFirst))}`)
  console.log(`  poc down                                    ${seconds(median(f.down))}`)
  console.log('  service         in poc up, after its deps   alone, spawn to /health ok   its CPU until then')
  for (const name of Object.keys(f.services)) {
    const cpu = f.aloneCpu[name] ? `${median(f.aloneCpu[name])} ms` : 'n/a'
    console.log(
      `  ${name.padEnd(16)}${seconds(median(f.services[name])).padStart(10)}${seconds(median(f.alone[name] ?? [])).padStart(28)}${cpu.padStart(21)}`,
    )
  }
  const cpuTotal = Object.values(f.aloneCpu).reduce((sum, xs) => sum + median(xs), 0)
  console.log(`  CPU of all their starts                     ${cpuTotal} ms`)
  summary.push({
    build: build.label,
    upMs: Math.round(up),
    rabbitmqAloneMs: Math.round(rabbit),
    restMs: Math.round(up - rabbit),
    ratio: Number((up / rabbit).toFixed(3)),
    afterFirstWaveMs: Math.round(median(f.afterFirst)),
    downMs: Math.round(median(f.down)),
    serviceReadyMs: Object.fromEntries(
      Object.entries(f.services).map(([n, xs]) => [n, Math.round(median(xs))]),
    ),
    serviceAloneMs: Object.fromEntries(Object.entries(f.alone).map(([n, xs]) => [n, Math.round(median(xs))])),
    serviceAloneCpuMs: Object.fromEntries(Object.entries(f.aloneCpu).map(([n, xs]) => [n, median(xs)])),
  })
}
const load = {
  min: Math.min(...loads),
  max: Math.max(...loads),
  mean: loads.reduce((a, b) => a + b, 0) / loads.length,
}
console.log(
  `machine load (1-min average) during the run: ${load.min.toFixed(2)}–${load.max.toFixed(2)}, mean ${load.mean.toFixed(2)}`,
)
console.log(JSON.stringify({runs, builds: summary, loadavg: load}))
