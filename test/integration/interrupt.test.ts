import assert from 'node:assert/strict'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {execa} from 'execa'
import {isListening} from '../../src/stack/ports.js'
import {cleanup, makeHome, processesUnder, repoRoot, testPortOffsets} from '../helpers.js'

const offset = testPortOffsets.interrupt

describe('Ctrl+C during poc up', {timeout: 120_000}, () => {
  const home = makeHome('interrupt')
  after(() => cleanup(home))

  it('stops what it started and exits 130', async () => {
    const child = execa(
      'node',
      [path.join(repoRoot, 'bin/run.js'), 'up', '--only', 'rabbitmq,redis', '--port-offset', String(offset)],
      {
        env: {POC_HOME: home, NO_COLOR: '1'},
        reject: false,
      },
    )
    // Redis is up within milliseconds, RabbitMQ takes seconds: interrupt while it boots.
    const deadline = Date.now() + 20_000
    while (!isListening(6379 + offset) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    assert.equal(isListening(6379 + offset), true, 'redis came up')
    child.kill('SIGINT')
    const result = await child
    assert.equal(result.exitCode, 130, result.stderr)
    assert.match(result.stderr, /interrupted: stopped the 2 component\(s\) this call had started/)
    assert.deepEqual(processesUnder(home), [])
    assert.equal(isListening(6379 + offset), false)
    assert.equal(isListening(5672 + offset), false)
  })
})
