import assert from 'node:assert/strict'
import {chromiumMissingReason} from '../../src/checks/ui/browser.js'
import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import Docker from 'dockerode'
import {execa} from 'execa'
import {podmanBinary} from '../../src/stack/engine/connect.js'
import {pocContainersConf} from '../../src/stack/engine/containers-conf.js'
import {listPids} from '../../src/stack/proc.js'
import type {SmokeSessionResult} from '../../src/checks/smoke/loop.js'
import type {StackState} from '../../src/stack/state.js'
import type {StatusResult, UpResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, processesUnder, repoRoot, runPoc, testPortOffsets} from '../helpers.js'

/**
 * The podman runtime end to end, as a user runs it: `poc up --runtime podman` through podman's
 * Docker-compatible API (poc starts `podman system service` itself), the smoke scenarios on
 * it, a killed container, a taken port, Ctrl+C, and `poc down` leaving nothing behind. Images
 * are poc's local ones (no registry here), built once and cached in ~/.cache/poc.
 */
const skip = podmanBinary()
  ? false
  : process.env.CI
    ? false
    : 'podman is not installed (npm run setup installs it; CI must have it)'

const podman = {POC_RUNTIME: 'podman'}
const offset = testPortOffsets.podman

function stateOf(home: string): StackState {
  return JSON.parse(readFileSync(`${home}/state.json`, 'utf8')) as StackState
}

function engineOf(home: string): Docker {
  const socketPath = stateOf(home).engine?.socketPath
  assert.ok(socketPath, 'state.json records the engine socket')
  return new Docker({socketPath})
}

async function stackContainers(docker: Docker, home: string) {
  return docker.listContainers({all: true, filters: {label: [`poc.home=${home}`]}})
}

/** podman's own view, through its CLI (no service needed): the stack's containers and whether its network exists. */
async function podmanView(home: string): Promise<{containers: string[]; network: boolean}> {
  const env = {CONTAINERS_CONF: writeConf()}
  const ps = await execa(
    'podman',
    ['ps', '-a', '--filter', `label=poc.home=${home}`, '--format', '{{.Names}}'],
    {env},
  )
  const networks = await execa('podman', ['network', 'ls', '--format', '{{.Name}}'], {env})
  const network = networks.stdout.split('\n').some((name) => {
    if (!name.startsWith('poc-')) return false
    return name === `poc-${offset}` || name === `poc-${testPortOffsets.podmanPort}`
  })
  return {containers: ps.stdout.split('\n').filter(Boolean), network}
}

function describeProcess(pid: number): string {
  try {
    return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 300)}`
  } catch {
    return `${pid} (gone)`
  }
}

function writeConf(): string {
  const file = path.join(os.tmpdir(), 'poc-test-containers.conf')
  writeFileSync(file, pocContainersConf)
  return file
}

describe('the podman runtime', {skip, timeout: 1_200_000}, () => {
  const home = makeHome('podman')
  after(() => cleanup(home))

  let up: UpResult
  before(async () => {
    // Cold, this builds the local images (about 2 minutes here); warm, it takes RabbitMQ's boot time.
    const run = await runPoc(home, ['up', '--port-offset', String(offset), '--json'], podman)
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    up = parseJson<UpResult>(run)
  })

  it('runs the infrastructure in labelled containers on the stack network, services as processes', async () => {
    assert.equal(up.runtime, 'podman')
    const state = stateOf(home)
    assert.equal(state.engine?.network, `poc-${offset}`)
    assert.ok(state.engine?.service, 'poc started podman system service and recorded it')
    const docker = engineOf(home)
    const containers = await stackContainers(docker, home)
    assert.deepEqual(containers.map((c) => c.Labels['poc.component']).sort(), ['rabbitmq', 'redis'])
    for (const c of containers) {
      assert.equal(c.Names[0]?.replace(/^\//, ''), `poc-${offset}-${c.Labels['poc.component']}`)
      // Published on loopback only, with the offset.
      for (const port of c.Ports.filter((p) => p.PublicPort)) assert.equal(port.IP, '127.0.0.1')
    }
    const redis = containers.find((c) => c.Labels['poc.component'] === 'redis')
    assert.ok(redis?.Ports.some((p) => p.PublicPort === 6379 + offset && p.PrivatePort === 6379))
    const pm = state.components.find((c) => c.name === 'pm')
    assert.ok(pm && !pm.container, 'pm runs as a host process')
  })

  it('status shows each container, its image and the version the server reports', async () => {
    const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    const rabbitmq = status.components.find((c) => c.name === 'rabbitmq')
    assert.equal(rabbitmq?.state, 'healthy')
    assert.match(rabbitmq?.container?.image ?? '', /rabbitmq/)
    assert.match(rabbitmq?.container?.id ?? '', /^[0-9a-f]{12}$/)
    assert.match(rabbitmq?.version ?? '', /^\d+\.\d+\.\d+/)
    const redis = status.components.find((c) => c.name === 'redis')
    assert.match(redis?.version ?? '', /^\d+\.\d+\.\d+/)
    const human = await runPoc(home, ['status'])
    assert.match(human.stdout, /CONTAINER/)
    assert.match(human.stdout, /runtime podman/)
  })

  it('passes the smoke scenarios', async () => {
    const run = await runPoc(home, ['smoke', '--json'])
    const result = parseJson<SmokeSessionResult>(run)
    const failed = result.last.scenarios.filter((s) => s.status === 'failed')
    assert.deepEqual(
      failed.map((s) => `${s.id}: ${s.reason}`),
      [],
    )
    // All 14, the browser flow through the ui included, where Chromium is (else 14 is skipped).
    assert.equal(
      result.last.scenarios.filter((s) => s.status === 'passed').length,
      chromiumMissingReason() ? 13 : 14,
    )
    assert.equal(run.exitCode, 0)
  })

  it("follows each container's output into its log file", async () => {
    const run = await runPoc(home, ['logs', 'rabbitmq', '--tail', '200'])
    assert.equal(run.exitCode, 0)
    assert.match(
      run.stdout,
      /Server startup complete|started TCP listener|Ready to start client connection listeners/,
    )
    const redis = await runPoc(home, ['logs', 'redis', '--tail', '50'])
    assert.match(redis.stdout, /Ready to accept connections/)
  })

  it('a killed container shows as down, and poc up starts it again', async () => {
    const docker = engineOf(home)
    const name = `poc-${offset}-redis`
    await docker.getContainer(name).kill()
    const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    const redis = status.components.find((c) => c.name === 'redis')
    assert.equal(redis?.state, 'down')
    assert.match(redis?.reason ?? '', /container is gone/)
    const again = parseJson<UpResult>(await runPoc(home, ['up', '--json'], podman))
    const restarted = again.components.find((c) => c.name === 'redis')
    assert.equal(restarted?.action, 'restarted')
    assert.equal(restarted?.state, 'healthy')
    assert.equal(again.components.find((c) => c.name === 'rabbitmq')?.action, 'unchanged')
  })

  it('refuses a taken port before creating anything, naming the holder (exit 3)', async () => {
    const other = makeHome('podman-port')
    const port = 6379 + testPortOffsets.podmanPort
    const server = net.createServer().listen(port, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    try {
      const run = await runPoc(
        other,
        ['up', '--only', 'redis', '--port-offset', String(testPortOffsets.podmanPort)],
        podman,
      )
      assert.equal(run.exitCode, 3, run.stderr)
      assert.match(run.stderr, new RegExp(`port ${port} \\(redis redis\\) is taken by pid ${process.pid}`))
      // The stack's own engine still answers, and the other home created no container and left
      // no podman service of its own running.
      assert.deepEqual(await stackContainers(engineOf(home), other), [])
      const services = listPids().filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${other}/run/podman.sock`)
        } catch {
          return false
        }
      })
      assert.deepEqual(services.map(describeProcess), [])
    } finally {
      server.close()
      await cleanup(other)
    }
  })

  it('auto picks podman where no docker engine answers, and a running stack keeps its runtime', async () => {
    const other = makeHome('podman-auto')
    try {
      const env = {POC_RUNTIME: 'auto', DOCKER_HOST: ''}
      const args = ['up', '--only', 'redis', '--port-offset', String(testPortOffsets.podmanPort), '--json']
      const run = await runPoc(other, args, env)
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      assert.equal(parseJson<UpResult>(run).runtime, 'podman')
      // Asked for native while it runs under podman: refused, never moved.
      const native = await runPoc(other, ['up', '--only', 'redis', '--runtime', 'native'])
      assert.equal(native.exitCode, 3)
      assert.match(native.stderr, /runs under the podman runtime, not native/)
      const again = await runPoc(other, ['up', '--only', 'redis', '--json'], env)
      assert.equal(parseJson<UpResult>(again).components[0]?.action, 'unchanged')
    } finally {
      await cleanup(other)
    }
  })

  it('--runtime docker drives whatever engine DOCKER_HOST names, through the same API', async () => {
    // No docker daemon runs here; podman's service speaks the same Docker Engine API.
    const other = makeHome('podman-dockerhost')
    const socketPath = stateOf(home).engine?.socketPath as string
    try {
      const run = await runPoc(
        other,
        ['up', '--only', 'redis', '--port-offset', String(testPortOffsets.podmanPort), '--json'],
        {POC_RUNTIME: 'docker', DOCKER_HOST: `unix://${socketPath}`},
      )
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      assert.equal(parseJson<UpResult>(run).runtime, 'docker')
      const state = stateOf(other)
      assert.equal(state.engine?.source, 'DOCKER_HOST')
      assert.equal(state.engine?.service, undefined, 'an engine poc did not start is not poc’s to stop')
      const down = await runPoc(other, ['down'])
      assert.equal(down.exitCode, 0, down.stderr)
      // The first stack and its podman service are untouched.
      assert.deepEqual((await stackContainers(engineOf(home), home)).length, 2)
    } finally {
      await cleanup(other)
    }
  })

  it('poc down removes the containers, the network and the podman service, and nothing else', async () => {
    const socketPath = stateOf(home).engine?.socketPath as string
    const run = await runPoc(home, ['down', '--json'])
    assert.equal(run.exitCode, 0, run.stderr)
    assert.equal(existsSync(`${home}/state.json`), false)
    assert.equal(existsSync(socketPath), false, 'the socket of the podman service is gone')
    assert.deepEqual(
      processesUnder(home),
      [],
      'no process of the stack is left (podman service, log followers)',
    )
    // Ask podman itself, through its CLI.
    assert.deepEqual(await podmanView(home), {containers: [], network: false})
  })
})

describe('Ctrl+C during poc up --runtime podman', {skip, timeout: 600_000}, () => {
  const home = makeHome('podman-interrupt')
  after(() => cleanup(home))

  it('stops what it created: no container, network or service of the stack is left (exit 130)', async () => {
    const child = execa(
      'node',
      [`${repoRoot}/bin/run.js`, 'up', '--port-offset', String(testPortOffsets.podmanPort)],
      {
        env: {POC_HOME: home, NO_COLOR: '1', POC_RUNTIME: 'podman'},
        reject: false,
      },
    )
    // Interrupt once RabbitMQ's container exists and it is booting.
    const deadline = Date.now() + 300_000
    for (;;) {
      const state = existsSync(`${home}/state.json`) ? stateOf(home) : undefined
      if (state?.components.some((c) => c.name === 'rabbitmq' && c.container)) break
      assert.ok(Date.now() < deadline, 'rabbitmq never got a container')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    child.kill('SIGINT')
    const result = await child
    assert.equal(result.exitCode, 130, result.stdout + result.stderr)
    assert.match(result.stderr, /interrupted/)
    assert.deepEqual(await podmanView(home), {containers: [], network: false})
    assert.deepEqual(processesUnder(home).map(describeProcess), [])
    assert.equal(existsSync(`${home}/state.json`), false)
  })
})

describe('poc up --runtime podman --services-in-containers', {skip, timeout: 900_000}, () => {
  const home = makeHome('podman-services')
  after(() => cleanup(home))

  it('runs our services from the services image on the stack network, and smoke passes', async () => {
    const offsetHere = testPortOffsets.podmanServices
    const run = await runPoc(
      home,
      ['up', '--services-in-containers', '--port-offset', String(offsetHere), '--json'],
      podman,
    )
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    const result = parseJson<UpResult>(run)
    assert.equal(result.servicesInContainers, true)
    const state = stateOf(home)
    for (const name of ['pm', 'fi', 'invoice-worker', 'gateway'] as const) {
      const record = state.components.find((c) => c.name === name)
      assert.match(record?.container?.image ?? '', /^localhost\/poc\/services:[0-9a-f]{12}$/, name)
    }
    // Inside the network the services reach the broker by alias; their files are the caller's, in $POC_HOME.
    const smoke = parseJson<SmokeSessionResult>(await runPoc(home, ['smoke', '--json']))
    const failed = smoke.last.scenarios.filter((s) => s.status === 'failed')
    assert.deepEqual(
      failed.map((s) => `${s.id}: ${s.reason}`),
      [],
    )
    const stat = statSync(`${home}/data/pm/pm-poc-state.json`)
    assert.equal(stat.uid, process.getuid?.())
    // A second `up` asking for host services is refused instead of mixing the two.
    const mixed = await runPoc(home, ['up', '--no-services-in-containers'], podman)
    assert.notEqual(mixed.exitCode, 0)
    const down = await runPoc(home, ['down'])
    assert.equal(down.exitCode, 0, down.stderr)
    assert.deepEqual(processesUnder(home).map(describeProcess), [])
    assert.deepEqual((await podmanView(home)).containers, [])
  })
})
