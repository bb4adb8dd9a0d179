import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import net from 'node:net'
import {describe, it} from 'node:test'
import {canBind, checkPortFree, describeHolder, findPortHolder} from '../../src/stack/ports.js'
import {commandLine, descendants, isRunning, readStat} from '../../src/stack/proc.js'
import {spawnDetached, stopProcesses} from '../../src/stack/native.js'
import {makeHome} from '../helpers.js'
import path from 'node:path'
import {readFileSync, rmSync} from 'node:fs'

async function listen(): Promise<{server: net.Server; port: number}> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {server, port: (server.address() as net.AddressInfo).port}
}

describe('ports', () => {
  it('names the process holding a port, from /proc', async () => {
    const {server, port} = await listen()
    try {
      assert.equal(await canBind(port), false)
      const holder = await checkPortFree(port)
      assert.equal(holder?.pid, process.pid)
      assert.match(holder?.command ?? '', /node/)
      assert.match(describeHolder(holder ?? {}), new RegExp(`^pid ${process.pid} \\(.*node`))
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
    assert.equal(await checkPortFree(port), undefined)
    assert.equal(findPortHolder(port), undefined)
  })

  it('names the owner of a port held by the client end of a connection, and says so', async () => {
    const {server, port} = await listen()
    // A port the kernel handed out for a connection (auto-bound: no SO_REUSEADDR) blocks a listener's bind.
    const client = net.connect({port, host: '127.0.0.1'})
    await new Promise((resolve) => client.once('connect', resolve))
    const local = client.localPort as number
    try {
      const holder = await checkPortFree(local)
      assert.equal(holder?.pid, process.pid)
      assert.equal(holder?.connection, true)
      assert.match(
        describeHolder(holder ?? {}),
        new RegExp(`^pid ${process.pid} \\(.*node.*\\), the local end of one of its connections$`),
      )
    } finally {
      client.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('processes', () => {
  it('tells our process from one that reused its pid by the start time', () => {
    const me = readStat(process.pid)
    assert.ok(me)
    assert.equal(isRunning(process.pid, me.startTicks), true)
    assert.equal(isRunning(process.pid, me.startTicks + 1), false)
    assert.equal(isRunning(2 ** 22 + 1), false)
  })

  it('finds the whole tree of a process', async () => {
    const child = spawn('sh', ['-c', 'sleep 30 & sleep 30 & wait'], {stdio: 'ignore'})
    await new Promise((resolve) => setTimeout(resolve, 200))
    try {
      const tree = descendants(child.pid as number)
      assert.equal(tree.length, 2)
      for (const pid of tree) assert.match(commandLine(pid) ?? '', /sleep 30/)
    } finally {
      child.kill('SIGKILL')
      for (const pid of descendants(child.pid as number)) process.kill(pid, 'SIGKILL')
    }
  })

  it('spawns detached with a log file, and stops a process that ignores SIGTERM with SIGKILL after the grace period', async () => {
    const home = makeHome('proc')
    const log = path.join(home, 'logs', 'stubborn.log')
    try {
      const record = await spawnDetached(
        {
          role: 'server',
          command: 'sh',
          args: ['-c', 'trap "" TERM; echo started; while true; do sleep 0.1; done'],
          env: {},
          cwd: home,
        },
        log,
      )
      assert.equal(readStat(record.pid)?.pgid, record.pid, 'leads its own process group')
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.match(readFileSync(log, 'utf8'), /starting server: sh -c[\s\S]*started/)
      const outcome = await stopProcesses([record], 300)
      assert.equal(outcome.forced, true)
      assert.equal(isRunning(record.pid, record.startTicks), false)
    } finally {
      rmSync(home, {recursive: true, force: true})
    }
  })

  it('stops a well-behaved process with SIGTERM alone', async () => {
    const home = makeHome('proc')
    try {
      const record = await spawnDetached(
        {role: 'server', command: 'sleep', args: ['30'], env: {}, cwd: home},
        path.join(home, 'x.log'),
      )
      const outcome = await stopProcesses([record], 5000)
      assert.equal(outcome.forced, false)
      assert.equal(isRunning(record.pid, record.startTicks), false)
    } finally {
      rmSync(home, {recursive: true, force: true})
    }
  })
})
