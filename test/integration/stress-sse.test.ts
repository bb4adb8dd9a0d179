import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import {execa} from 'execa'
import type {StressSseResult} from '../../src/checks/stress-sse.js'
import type {StatusResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, repoRoot, runPoc, testPortOffsets, upStack} from '../helpers.js'

const offset = testPortOffsets.stress
const pm = `http://127.0.0.1:${3001 + offset}`

let home: string

async function pmRssKiB(): Promise<number> {
  const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
  const pid = status.components.find((c) => c.name === 'pm')?.pids[0]
  assert.ok(pid, 'pm runs')
  const {readFileSync} = await import('node:fs')
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)
  return Number(line?.[1])
}

async function pmHealth(): Promise<{sse: {telemetry: {clients: number; dropped: number}}}> {
  return (await (await fetch(`${pm}/health`)).json()) as {
    sse: {telemetry: {clients: number; dropped: number}}
  }
}

describe('poc stress sse against pm and a flaky server', () => {
  before(async () => {
    home = makeHome('stress')
    await upStack(home, offset, 'pm')
  })
  after(async () => cleanup(home))

  it("gets the first event to 1,000 clients of pm's /metrics/stream", async () => {
    const run = await runPoc(home, ['stress', 'sse', '--clients', '1000', '--timeout', '10s', '--json'])
    assert.equal(run.exitCode, 0, run.stdout.slice(0, 2000) + run.stderr)
    const result = parseJson<StressSseResult>(run)
    assert.equal(result.succeeded, 1000)
    assert.equal(result.successRatio, 1)
    assert.equal(result.eventsReceived, 1000)
    assert.ok(result.firstEventMs.p99 > 0 && result.firstEventMs.max >= result.firstEventMs.p99)
  })

  it('measures the fan-out of broadcasts with --duration', async () => {
    const stress = execa(
      'node',
      [`${repoRoot}/bin/run.js`, 'stress', 'sse', '--clients', '50', '--duration', '3s', '--json'],
      {env: {POC_HOME: home, NO_COLOR: '1'}, reject: false},
    )
    await delay(1000)
    for (let i = 0; i < 10; i++) {
      const response = await fetch(`${pm}/api/v1/projects`, {
        method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({projectCode: `FAN-${Date.now()}-${i}`, projectName: 'fan-out'}),
      })
      assert.equal(response.status, 201)
      await delay(100)
    }
    const run = await stress
    assert.equal(run.exitCode, 0, String(run.stderr))
    const result = JSON.parse(String(run.stdout)) as StressSseResult
    assert.ok(result.fanout, 'a fan-out block with --duration')
    assert.ok(result.fanout.events >= 10, `saw ${result.fanout.events} broadcasts`)
    assert.ok(result.fanout.samples >= 10 * 49, `${result.fanout.samples} fan-out samples`)
    assert.equal(result.disconnects, 0)
    // The summary each client gets on connect, then every broadcast.
    assert.equal(result.eventsReceived, 50 * (1 + result.fanout.events))
  })

  it('exits 1 when part of the clients cannot connect, naming the cause', async () => {
    let connections = 0
    const server = http.createServer((_request, response) => {
      response.writeHead(200, {'content-type': 'text/event-stream'})
      response.write('id: 1\nevent: hello\ndata: {}\n\n')
    })
    // Every second connection is dropped before it is answered.
    server.on('connection', (socket) => {
      if (connections++ % 2 === 1) socket.destroy()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const {port} = server.address() as net.AddressInfo
    try {
      const url = `http://127.0.0.1:${port}/stream`
      const run = await runPoc(home, [
        'stress',
        'sse',
        '--url',
        url,
        '--clients',
        '10',
        '--timeout',
        '2s',
        '--json',
      ])
      assert.equal(run.exitCode, 1, run.stdout + run.stderr)
      const result = parseJson<StressSseResult>(run)
      assert.equal(result.succeeded, 5)
      assert.equal(result.failed, 5)
      assert.equal(result.passed, false)
      assert.deepEqual(
        Object.values(result.errors).reduce((a, b) => a + b, 0),
        5,
      )
      const lenient = await runPoc(home, [
        'stress',
        'sse',
        '--url',
        url,
        '--clients',
        '10',
        '--min-success',
        '0.5',
      ])
      assert.equal(lenient.exitCode, 0, lenient.stdout)
      assert.match(lenient.stdout, /Passed: 5 of 10 clients/)
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })

  it('refuses bad flags with exit 2', async () => {
    assert.equal((await runPoc(home, ['stress', 'sse', '--min-success', '2'])).exitCode, 2)
    assert.equal((await runPoc(home, ['stress', 'sse', '--header', 'no colon'])).exitCode, 2)
    assert.equal((await runPoc(home, ['stress', 'sse', '--url', 'ftp://x/'])).exitCode, 2)
  })

  it('drops a client of pm that stops reading, so pm’s memory stays bounded', async (t) => {
    const slow: net.Socket[] = []
    for (let i = 0; i < 20; i++) {
      const socket = net.connect(3001 + offset, '127.0.0.1')
      socket.on('error', () => undefined)
      await new Promise<void>((resolve) => socket.once('connect', resolve))
      socket.write(
        'GET /api/v1/telemetry/ui/stream HTTP/1.1\r\nHost: pm\r\nAccept: text/event-stream\r\n\r\n',
      )
      socket.pause()
      slow.push(socket)
    }
    try {
      const before = await pmRssKiB()
      assert.equal((await pmHealth()).sse.telemetry.clients, 20)
      // 256 KiB per event: 40 events are 10 MiB for each of the 20 clients, 200 MiB if pm kept them.
      const detail = {blob: 'x'.repeat(256 * 1024)}
      let peak = before
      for (let i = 0; i < 40; i++) {
        const response = await fetch(`${pm}/api/v1/telemetry/ui`, {
          method: 'POST',
          headers: {'content-type': 'application/json'},
          body: JSON.stringify({component: 'stress', event: `big-${i}`, detail}),
        })
        assert.equal(response.status, 204)
        if (i % 10 === 9) peak = Math.max(peak, await pmRssKiB())
      }
      const health = await pmHealth()
      assert.equal(health.sse.telemetry.dropped, 20, 'every stalled client was cut')
      assert.equal(health.sse.telemetry.clients, 0)
      const growthMiB = (peak - before) / 1024
      t.diagnostic(
        `pm RSS ${(before / 1024).toFixed(0)} MiB before, peak ${(peak / 1024).toFixed(0)} MiB (+${growthMiB.toFixed(1)})`,
      )
      assert.ok(
        growthMiB < 100,
        `pm grew by ${growthMiB.toFixed(0)} MiB while 200 MiB were due to stalled clients`,
      )
    } finally {
      for (const socket of slow) socket.destroy()
    }
  })
})
