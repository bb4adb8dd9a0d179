import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import amqp from 'amqplib'
import {Redis} from 'ioredis'
import {getComponent, serviceEnvironment, startGateVariable} from '../../src/stack/catalog.js'
import {componentContext} from '../../src/stack/context.js'
import {homeAt} from '../../src/stack/home.js'
import {isListening} from '../../src/stack/ports.js'
import type {DownResult, StatusResult, UpResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, processesUnder, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.lifecycle
const ports = {
  amqp: 5672 + offset,
  management: 15672 + offset,
  prometheus: 15692 + offset,
  epmd: 14369 + offset,
  dist: 25672 + offset,
  redis: 6379 + offset,
}

async function redisPing(): Promise<string> {
  const client = new Redis({
    host: '127.0.0.1',
    port: ports.redis,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  try {
    await client.connect()
    return await client.ping()
  } finally {
    client.disconnect()
  }
}

/** Remote ports of the process's established TCP connections (/proc/<pid>/fd and /proc/net/tcp*). */
function connectedPorts(pid: number): number[] {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`)
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
      if (inode) inodes.add(inode)
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      const [remote, state, inode] = [fields[2], fields[3], fields[9]]
      if (state === '01' && inode && inodes.has(inode) && remote)
        ports.push(Number.parseInt(remote.split(':')[1] ?? '', 16))
    }
  }
  return ports
}

/** Spawns a service as poc up does behind a start gate (the catalog's command and environment). */
function spawnGated(home: string, name: 'credit', gate: string): {child: ChildProcess; output: () => string} {
  const spec = getComponent(name)
  const ctx = componentContext(name, homeAt(home), offset)
  mkdirSync(ctx.dataDir, {recursive: true})
  const [processSpec] = spec.native?.processes({...ctx, startGate: gate}, {}) ?? []
  assert.ok(processSpec)
  assert.equal(processSpec.env?.[startGateVariable], gate)
  const child = spawn(processSpec.command, processSpec.args, {
    env: {PATH: process.env.PATH, ...serviceEnvironment(spec, ctx), [startGateVariable]: gate},
    cwd: ctx.dataDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  child.stdout?.on('data', (chunk) => (text += chunk))
  child.stderr?.on('data', (chunk) => (text += chunk))
  return {child, output: () => text}
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await delay(50)
  }
}

describe('poc up / status / logs / down with real RabbitMQ and Redis', {timeout: 300_000}, () => {
  const home = makeHome('lifecycle')
  let up: UpResult

  before(async () => {
    up = await upStack(home, offset, 'rabbitmq,redis')
  })

  after(() => cleanup(home))

  it('starts both and reports them healthy with their ports', () => {
    assert.deepEqual(
      up.components.map((c) => [c.name, c.state, c.action]),
      [
        ['rabbitmq', 'healthy', 'started'],
        ['redis', 'healthy', 'started'],
      ],
    )
    assert.deepEqual(up.components[0]?.ports, {
      amqp: ports.amqp,
      management: ports.management,
      prometheus: ports.prometheus,
    })
    assert.equal(up.portOffset, offset)
  })

  it('gives a broker that amqplib can use, with the management API answering', async () => {
    const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${ports.amqp}`)
    try {
      const channel = await connection.createChannel()
      const {queue} = await channel.assertQueue('', {exclusive: true})
      channel.sendToQueue(queue, Buffer.from('hello'))
      const message = await new Promise<amqp.ConsumeMessage | null>((resolve) =>
        channel.consume(queue, resolve, {noAck: true}),
      )
      assert.equal(message?.content.toString(), 'hello')
    } finally {
      await connection.close()
    }
    const response = await fetch(`http://127.0.0.1:${ports.management}/api/overview`, {
      headers: {authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`},
    })
    assert.equal(response.status, 200)
    const overview = (await response.json()) as {node: string}
    assert.equal(overview.node, 'poc@localhost')
  })

  it('gives a Redis that answers PING', async () => {
    assert.equal(await redisPing(), 'PONG')
  })

  it('status --json shows both healthy', async () => {
    const run = await runPoc(home, ['status', '--json'])
    assert.equal(run.exitCode, 0, run.stderr)
    const result = parseJson<StatusResult>(run)
    const byName = Object.fromEntries(result.components.map((c) => [c.name, c]))
    assert.equal(byName.rabbitmq?.state, 'healthy')
    assert.equal(byName.redis?.state, 'healthy')
    assert.equal(byName.fi?.state, 'stopped')
    assert.equal(byName.gateway?.state, 'stopped')
    assert.equal(byName.grafana?.state, 'unavailable')
    assert.equal(result.portOffset, offset)
  })

  it('up again is a no-op and says so', async () => {
    const run = await runPoc(home, ['up', '--only', 'rabbitmq,redis'])
    assert.equal(run.exitCode, 0, run.stderr)
    assert.match(run.stdout, /Nothing to do: rabbitmq, redis already running\./)
    const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    const pids = status.components.filter((c) => c.pids.length > 0).map((c) => c.pids)
    assert.deepEqual(
      pids,
      up.components.map((c) => c.pids),
    )
  })

  it('shows a component killed with SIGKILL as down, and up restarts it', async () => {
    const redisPid = up.components.find((c) => c.name === 'redis')?.pids[0] as number
    process.kill(redisPid, 'SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 200))
    const down = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    assert.equal(down.components.find((c) => c.name === 'redis')?.state, 'down')
    assert.equal(down.components.find((c) => c.name === 'rabbitmq')?.state, 'healthy')

    const run = await runPoc(home, ['up', '--only', 'rabbitmq,redis', '--json'])
    assert.equal(run.exitCode, 0, run.stderr)
    const again = parseJson<UpResult>(run)
    assert.deepEqual(
      again.components.map((c) => [c.name, c.action]),
      [
        ['rabbitmq', 'unchanged'],
        ['redis', 'restarted'],
      ],
    )
    assert.notEqual(again.components[1]?.pids[0], redisPid)
    assert.equal(await redisPing(), 'PONG')
  })

  it("records the broker's own pid (beam.smp, not its launcher): kill -9 of it shows rabbitmq down", async () => {
    const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    const pids = status.components.find((c) => c.name === 'rabbitmq')?.pids ?? []
    const beam = pids.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('beam.smp'))
    assert.ok(beam, `one of ${pids.join(', ')} is beam.smp`)
    process.kill(beam, 'SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 300))
    const after = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    assert.equal(after.components.find((c) => c.name === 'rabbitmq')?.state, 'down')
    const run = await runPoc(home, ['up', '--only', 'rabbitmq,redis', '--json'])
    assert.equal(run.exitCode, 0, run.stderr)
    assert.equal(parseJson<UpResult>(run).components[0]?.action, 'restarted')
  })

  it('starts a service behind its start gate: no listening, no broker or Redis connection until the gate file appears', async () => {
    const gate = path.join(home, 'run', 'credit.start')
    mkdirSync(path.dirname(gate), {recursive: true})
    const {child, output} = spawnGated(home, 'credit', gate)
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
    const httpPort = 3004 + offset
    try {
      // Loaded, state read, routes built: it says so once it only waits for the gate.
      await until('the service to reach its gate', () => /poc up start gate/.test(output()))
      await delay(500)
      assert.equal(child.exitCode, null, output())
      assert.equal(isListening(httpPort), false, 'it listens before its gate')
      assert.deepEqual(connectedPorts(child.pid as number), [], 'it connects before its gate')

      writeFileSync(gate, '')
      await until('its /health to answer 200', async () => {
        const response = await fetch(`http://127.0.0.1:${httpPort}/health`).catch(() => undefined)
        return response?.status === 200
      })
      // Beside the connection the /health answers came on.
      const outgoing = connectedPorts(child.pid as number).filter(
        (p) => p === ports.amqp || p === ports.redis,
      )
      assert.deepEqual(outgoing.sort(), [ports.amqp, ports.redis].sort())
      assert.equal(existsSync(gate), false, 'the gate file is taken away')
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, output())
  })

  it('ends a service waiting at its start gate at once on SIGTERM', async () => {
    const gate = path.join(home, 'run', 'credit.start')
    const {child, output} = spawnGated(home, 'credit', gate)
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
    await until('the service to reach its gate', () => /poc up start gate/.test(output()))
    const t0 = Date.now()
    child.kill('SIGTERM')
    assert.equal(await exited, 'SIGTERM')
    assert.ok(Date.now() - t0 < 2000, `it took ${Date.now() - t0} ms`)
    assert.equal(existsSync(gate), false)
  })

  it('logs shows each component’s log, prefixed with its name', async () => {
    const run = await runPoc(home, ['logs', 'redis', '--tail', '50'])
    assert.equal(run.exitCode, 0, run.stderr)
    assert.match(run.stdout, /^redis \| .*Ready to accept connections/m)
    const all = await runPoc(home, ['logs', '--tail', '500'])
    assert.match(all.stdout, /^rabbitmq \| \d{2}:\d{2}:\d{2}\.\d{3} .*Server startup complete/m)
    // --json is NDJSON without -f too: one object per line, both logs merged in time order.
    const json = await runPoc(home, ['logs', '--json', '--tail', '20'])
    assert.equal(json.exitCode, 0, json.stderr)
    const records = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as {component: string; time: string | null; line: string})
    assert.deepEqual([...new Set(records.map((r) => r.component))].sort(), ['rabbitmq', 'redis'])
    assert.ok(
      records.every(
        (r) => typeof r.line === 'string' && (r.time === null || !Number.isNaN(Date.parse(r.time))),
      ),
    )
    const times = records.flatMap((r) => (r.time === null ? [] : [r.time]))
    assert.deepEqual(times, [...times].sort(), 'in the order the lines were written')
  })

  it('down --only redis --volumes kills it at once and deletes its data; up starts it again empty', async () => {
    const dataDir = `${home}/data/redis`
    assert.equal(existsSync(dataDir), true)
    const run = await runPoc(home, ['down', '--only', 'redis', '--volumes', '--json'])
    assert.equal(run.exitCode, 0, run.stderr)
    const result = parseJson<DownResult>(run)
    assert.deepEqual(
      result.stopped.map((s) => [s.name, s.forced]),
      [['redis', true]],
    )
    assert.equal(result.volumesRemoved, true)
    assert.equal(existsSync(dataDir), false)
    assert.equal(isListening(ports.redis), false)
    const text = await runPoc(home, ['status', '--json'])
    const states = parseJson<StatusResult>(text)
      .components.filter((c) => c.name === 'rabbitmq' || c.name === 'redis')
      .map((c) => [c.name, c.state])
    assert.deepEqual(states, [
      ['rabbitmq', 'healthy'],
      ['redis', 'stopped'],
    ])
    const again = await runPoc(home, ['up', '--only', 'redis'])
    assert.equal(again.exitCode, 0, again.stderr)
    assert.equal(await redisPing(), 'PONG')
  })

  it('down stops everything: no process under POC_HOME, no listening port, epmd included', async () => {
    const run = await runPoc(home, ['down', '--json'])
    assert.equal(run.exitCode, 0, run.stderr)
    const result = parseJson<DownResult>(run)
    assert.deepEqual(result.stopped.map((s) => s.name).sort(), ['rabbitmq', 'redis'])
    assert.deepEqual(processesUnder(home), [])
    for (const [name, port] of Object.entries(ports))
      assert.equal(isListening(port), false, `${name} port ${port}`)
    assert.equal(existsSync(`${home}/state.json`), false)

    const again = await runPoc(home, ['down'])
    assert.equal(again.exitCode, 0)
    assert.match(again.stdout, /Nothing was running\./)
  })
})
