import assert from 'node:assert/strict'
import {mkdtempSync, symlinkSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import net from 'node:net'
import {after, describe, it} from 'node:test'
import {execa} from 'execa'
import type {StatusResult} from '../../src/stack/stack.js'
import {cleanup, makeHome, parseJson, processesUnder, repoRoot, runPoc, testPortOffsets} from '../helpers.js'

const offset = testPortOffsets.errors

describe('poc up refuses clearly', {timeout: 300_000}, () => {
  const home = makeHome('errors')
  after(() => cleanup(home))

  it('fails with exit 3 naming the process that holds a port, and starts nothing', async () => {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(6379 + offset, '127.0.0.1', resolve))
    try {
      const run = await runPoc(home, ['up', '--only', 'rabbitmq,redis', '--port-offset', String(offset)])
      assert.equal(run.exitCode, 3)
      assert.match(
        run.stderr,
        new RegExp(`port ${6379 + offset} \\(redis redis\\) is taken by pid ${process.pid} \\(.*node`),
      )
      assert.match(run.stderr, /--port-offset/)
      assert.deepEqual(processesUnder(home), [])
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('rejects an unknown --only name as a usage error (exit 2) listing the components', async () => {
    const run = await runPoc(home, ['up', '--only', 'rabbitmq,bogus'])
    assert.equal(run.exitCode, 2)
    assert.match(run.stderr, /unknown component: bogus/)
    assert.match(run.stderr, /rabbitmq, redis/)
  })

  it('rejects a negative --port-offset as a usage error (exit 2)', async () => {
    const run = await runPoc(home, ['up', '--port-offset', '-5'])
    assert.equal(run.exitCode, 2)
    assert.match(run.stderr, /--port-offset/)
  })

  it('rejects an offset that pushes a port past 65535 (exit 2)', async () => {
    const run = await runPoc(home, ['up', '--port-offset', '60000'])
    assert.equal(run.exitCode, 2)
    assert.match(run.stderr, /--port-offset must be between 0 and \d+/)
  })

  it('says where it looked when no docker or podman engine answers (exit 3)', async () => {
    // No engine at DOCKER_HOST, no docker socket on this machine, and no podman on this PATH: node alone.
    const bin = mkdtempSync(path.join(os.tmpdir(), 'poc-test-nodeonly-'))
    symlinkSync(process.execPath, path.join(bin, 'node'))
    const noEngine = {DOCKER_HOST: 'unix:///nonexistent/docker.sock', PATH: bin, XDG_RUNTIME_DIR: ''}
    const docker = await runPoc(
      home,
      ['up', '--runtime', 'docker', '--port-offset', String(offset)],
      noEngine,
    )
    assert.equal(docker.exitCode, 3, docker.stderr)
    assert.match(
      docker.stderr,
      /no docker engine answers \(looked at \/nonexistent\/docker\.sock \(DOCKER_HOST\), \/var\/run\/docker\.sock\)/,
    )
    const podman = await runPoc(
      home,
      ['up', '--runtime', 'podman', '--port-offset', String(offset)],
      noEngine,
    )
    assert.equal(podman.exitCode, 3, podman.stderr)
    assert.match(podman.stderr, /no podman engine answers .*and for the podman binary/)
    assert.match(podman.stderr, /apt-get install -y podman runc/)
  })

  it('on a terminal, an up that fails before anything starts exits at once, with the error (exit 3)', async () => {
    // Under a real pseudo-terminal the live task list is drawn; it must not wait for tasks that never start.
    const blocker = net.createServer().listen(6379 + offset, '127.0.0.1')
    await new Promise((resolve) => blocker.once('listening', resolve))
    try {
      const command = `node ${repoRoot}/bin/run.js up --only redis --runtime native --port-offset ${offset}`
      const run = await execa('script', ['-qec', command, '/dev/null'], {
        env: {POC_HOME: home, NO_COLOR: '1'},
        reject: false,
        timeout: 30_000,
      })
      assert.equal(run.timedOut, false, 'poc up hung on the terminal')
      assert.equal(run.exitCode, 3, run.stdout)
      // The terminal's line ends, and oclif's wrapping of the message at the terminal width.
      const text = run.stdout.replaceAll('\r', '').replace(/\s*\n ›\s+/g, ' ')
      assert.match(text, new RegExp(`port ${6379 + offset} \\(redis redis\\) is taken by pid ${process.pid}`))
    } finally {
      blocker.close()
    }
  })

  it('says a component this runtime cannot run is unavailable, never faking it (exit 3)', async () => {
    const run = await runPoc(home, [
      'up',
      '--only',
      'grafana',
      '--runtime',
      'native',
      '--port-offset',
      String(offset),
      '--json',
    ])
    assert.equal(run.exitCode, 3)
    const {error} = parseJson<{error: {message: string; code: string}}>(run)
    assert.equal(error.code, 'unavailable')
    assert.match(
      error.message,
      /cannot start grafana: grafana has no native form; it needs a container runtime/,
    )
  })

  it('status without a stack says how to start one', async () => {
    const run = await runPoc(home, ['status'])
    assert.equal(run.exitCode, 0)
    assert.match(run.stdout, /No stack is running from .*Start one with: poc up/)
    const json = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    assert.equal(json.running, false)
  })

  it('a component that does not get ready in time: exit 3, its last log lines, and what was started is stopped', async () => {
    const run = await runPoc(home, [
      'up',
      '--only',
      'rabbitmq',
      '--port-offset',
      String(offset),
      '--timeout',
      '1s',
    ])
    assert.equal(run.exitCode, 3)
    assert.match(run.stderr, /rabbitmq did not become ready: timed out after 1\.\ds waiting for AMQP connect/)
    assert.match(run.stderr, /last \d+ lines of .*rabbitmq\.log/)
    assert.deepEqual(processesUnder(home), [])
    const status = parseJson<StatusResult>(await runPoc(home, ['status', '--json']))
    assert.equal(status.running, false)
  })
})

describe('help and unknown commands (oclif plugin-help, plugin-not-found)', {timeout: 120_000}, () => {
  const home = makeHome('help')
  after(() => cleanup(home))

  it('poc help <command> and -h show the command’s help', async () => {
    const help = await runPoc(home, ['help', 'status'])
    assert.equal(help.exitCode, 0, help.stderr)
    assert.match(help.stdout, /USAGE\n {2}\$ poc status/)
    const short = await runPoc(home, ['up', '-h'])
    assert.equal(short.exitCode, 0, short.stderr)
    assert.match(short.stdout, /USAGE\n {2}\$ poc up/)
    assert.match(short.stdout, /--services-in-containers/)
  })

  it('a misspelt command is named with spaces, not colons, and exits 127', async () => {
    const run = await runPoc(home, ['dlq', 'lst'])
    assert.equal(run.exitCode, 127)
    assert.match(run.stderr, /dlq lst is not a poc command/)
    assert.match(run.stderr, /Run poc help dlq for a list of available commands/)
  })

  it('on a terminal, it asks whether the closest command was meant', async () => {
    const run = await execa('script', ['-qec', `node ${repoRoot}/bin/run.js smok`, '/dev/null'], {
      env: {POC_HOME: home, NO_COLOR: '1'},
      input: 'n\n',
      reject: false,
      timeout: 30_000,
    })
    assert.equal(run.timedOut, false)
    assert.match(run.stdout, /Did you mean smoke\?/)
    assert.equal(run.exitCode, 127)
  })
})
