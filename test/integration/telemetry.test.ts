import assert from 'node:assert/strict'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {type ResultPromise, execa} from 'execa'
import type {TelemetryEvent} from '../../src/checks/telemetry.js'
import {
  cleanup,
  makeHome,
  parseJson,
  processesUnder,
  repoRoot,
  runPoc,
  testPortOffsets,
  upStack,
} from '../helpers.js'

const offset = testPortOffsets.telemetry
const pm = `http://127.0.0.1:${3001 + offset}`
const run = Date.now().toString(36)

async function post(event: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${pm}/api/v1/telemetry/ui`, {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify(event),
  })
  assert.equal(response.status, 204, await response.text())
}

/** `poc telemetry tail -f --json …` as a child process, its stdout read as NDJSON while it runs. */
class Tail {
  readonly events: TelemetryEvent[] = []
  stdout = ''
  stderr = ''
  readonly child: ResultPromise

  constructor(home: string, args: string[]) {
    this.child = execa(
      'node',
      [path.join(repoRoot, 'bin/run.js'), 'telemetry', 'tail', '-f', '--json', ...args],
      {
        env: {POC_HOME: home, NO_COLOR: '1'},
        reject: false,
      },
    )
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString()
      const lines = this.stdout.split('\n')
      this.events.length = 0
      // Every complete line must be one event: a line that is not JSON fails the test here.
      for (const line of lines.slice(0, -1)) this.events.push(JSON.parse(line) as TelemetryEvent)
    })
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()))
  }

  names(): string[] {
    return this.events.map((e) => (e.detail as {n: string}).n)
  }

  async waitFor(what: string, done: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!done()) {
      if (Date.now() > deadline || this.child.exitCode !== null) {
        assert.fail(`tail never showed ${what}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`)
      }
      await sleep(50)
    }
  }

  async waitForName(name: string): Promise<void> {
    await this.waitFor(`event ${name}`, () => this.names().includes(name))
  }

  /** Ctrl+C, as a user ends it. */
  async interrupt(): Promise<{exitCode?: number}> {
    this.child.kill('SIGINT')
    return (await this.child) as {exitCode?: number}
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL')
  }
}

describe('poc telemetry on the real stack', {timeout: 300_000}, () => {
  const home = makeHome('telemetry')
  const tails: Tail[] = []
  const tail = (args: string[]) => {
    const started = new Tail(home, args)
    tails.push(started)
    return started
  }

  before(async () => {
    await upStack(home, offset, 'pm')
  })

  after(async () => {
    for (const t of tails) t.stop()
    await Promise.all(tails.map((t) => t.child))
    await cleanup(home)
    assert.deepEqual(processesUnder(home), [])
  })

  it('follows new events in order, as NDJSON, after the latest, and ends with 130 on Ctrl+C', async () => {
    const component = `follow-${run}`
    await post({component, event: 'before', detail: {n: 'before'}})
    const t = tail(['--component', component])
    // The latest matching event comes first: once it is there, the tail has started.
    await t.waitForName('before')
    const sent = await runPoc(home, [
      'telemetry',
      'send',
      '--component',
      component,
      '--event',
      'via-cli',
      '--level',
      'warn',
      '--detail',
      '{"n":"a1"}',
      '--json',
    ])
    assert.equal(sent.exitCode, 0, sent.stderr)
    assert.deepEqual(parseJson(sent), {ok: true, component, event: 'via-cli'})
    for (const n of ['a2', 'a3', 'a4']) await post({component, event: 'via-http', detail: {n}})
    await post({component: `other-${run}`, event: 'via-http', detail: {n: 'not-mine'}})
    await post({component, event: 'via-http', detail: {n: 'a5'}})
    await t.waitForName('a5')
    assert.deepEqual(t.names(), ['before', 'a1', 'a2', 'a3', 'a4', 'a5'])
    const ids = t.events.map((e) => e.id)
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
    )
    assert.deepEqual(
      t.events[1] && {level: t.events[1].level, origin: t.events[1].origin, event: t.events[1].event},
      {level: 'warn', origin: 'cli', event: 'via-cli'},
    )
    const ended = await t.interrupt()
    assert.equal(ended.exitCode, 130, t.stderr)
    assert.match(t.stdout, /^(\{.*\}\n)+$/, 'nothing but NDJSON on stdout')
  })

  it('selects exactly the matching events with each filter, printed and followed', async () => {
    const names = {a: `ui-${run}`, b: `server-${run}`}
    const needle = `needle-${run}`
    const base = {origin: `client-${run}`}
    const t0 = new Date(Date.now() - 1).toISOString()
    const filters: [string, string[], string[]][] = [
      ['component', ['--component', names.a], ['n1', 'n3', 'all']],
      ['event', ['--event', `fallback-${run}`], ['n3', 'n4', 'all']],
      ['level', ['--level', 'warn'], ['n4', 'all']],
      ['origin', ['--origin', `client-${run}`], ['n1', 'n4', 'all']],
      ['detail', ['--detail', needle], ['n2', 'all']],
      ['detail-path', ['--detail-path', '$.detail.flag'], ['n3', 'all']],
    ]
    // --since t0 keeps earlier tests' events out; the --since case itself cuts the mix in two.
    const followers = filters.map(([, args]) => tail([...args, '--since', t0]))
    const early = [
      {component: names.a, event: `click-${run}`, level: 'debug', ...base, detail: {n: 'n1'}},
      {component: names.b, event: `click-${run}`, origin: `server-${run}`, detail: {n: 'n2', text: needle}},
    ]
    const late = [
      {
        component: names.a,
        event: `fallback-${run}`,
        level: 'error',
        origin: `server-${run}`,
        detail: {n: 'n3', flag: {x: 1}},
      },
      {component: names.b, event: `fallback-${run}`, level: 'warn', ...base, detail: {n: 'n4'}},
      // Matches every filter, and comes last: once a follower shows it, it has seen the whole mix.
      {
        component: names.a,
        event: `fallback-${run}`,
        level: 'warn',
        ...base,
        detail: {n: 'all', text: needle, flag: true},
      },
    ]
    for (const event of early) await post(event)
    await sleep(20)
    const cut = new Date().toISOString()
    await sleep(20)
    filters.push(['since', ['--since', cut], ['n3', 'n4', 'all']])
    followers.push(tail(['--since', cut]))
    for (const event of late) await post(event)

    const printed = await Promise.all(
      filters.map(async ([, args]) => {
        const answer = await runPoc(home, [
          'telemetry',
          'tail',
          ...args,
          ...(args[0] === '--since' ? [] : ['--since', t0]),
          '--json',
        ])
        assert.equal(answer.exitCode, 0, answer.stderr)
        return answer.stdout
          .trim()
          .split('\n')
          .map((line) => ((JSON.parse(line) as TelemetryEvent).detail as {n: string}).n)
      }),
    )
    for (const [i, [name, , expected]] of filters.entries()) {
      assert.deepEqual(printed[i], expected, `poc telemetry tail --${name}`)
      const follower = followers[i] as Tail
      await follower.waitForName('all')
      assert.deepEqual(follower.names(), expected, `poc telemetry tail -f --${name}`)
    }
    for (const follower of followers) follower.stop()

    const human = await runPoc(home, ['telemetry', 'tail', '--component', names.b])
    assert.equal(human.exitCode, 0, human.stderr)
    assert.match(
      human.stdout,
      new RegExp(
        `^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} info  ${names.b} click-${run} \\{"n":"n2","text":"${needle}"\\}\\n` +
          `\\d\\d:\\d\\d:\\d\\d\\.\\d{3} warn  ${names.b} fallback-${run} \\{"n":"n4"\\}$`,
      ),
    )
  })

  it('follows across a pm restart: the events after it are shown, none missed, none repeated', async () => {
    const component = `restart-${run}`
    const t = tail(['--component', component])
    await post({component, event: 'before', detail: {n: 'r1'}})
    await t.waitForName('r1')
    await post({component, event: 'before', detail: {n: 'r2'}})
    await t.waitForName('r2')

    const down = await runPoc(home, ['down', '--only', 'pm'])
    assert.equal(down.exitCode, 0, down.stderr)
    await t.waitFor('that pm went away', () => /went away/.test(t.stderr))
    // Paused, the tail cannot be back before r3 and r4 are posted: it must get them by Last-Event-ID.
    t.child.kill('SIGSTOP')
    try {
      const up = await runPoc(home, ['up', '--only', 'pm'])
      assert.equal(up.exitCode, 0, up.stderr)
      for (const n of ['r3', 'r4']) await post({component, event: 'after', detail: {n}})
    } finally {
      t.child.kill('SIGCONT')
    }
    await t.waitForName('r4')
    await t.waitFor('that pm is back', () => /pm is back/.test(t.stderr))
    await post({component, event: 'after', detail: {n: 'r5'}})
    await t.waitForName('r5')

    assert.deepEqual(t.names(), ['r1', 'r2', 'r3', 'r4', 'r5'])
    const ids = t.events.map((e) => e.id)
    assert.ok(
      ids.every((id, i) => i === 0 || id > (ids[i - 1] as number)),
      `ids keep increasing across the restart: ${ids.join(', ')}`,
    )
    assert.doesNotMatch(t.stderr, /cannot replay/)
  })

  it('refuses bad input with exit 2 and says why', async () => {
    const badJson = await runPoc(home, [
      'telemetry',
      'send',
      '--component',
      'ui',
      '--event',
      'x',
      '--detail',
      '{nope',
    ])
    assert.equal(badJson.exitCode, 2, badJson.stderr)
    assert.match(badJson.stderr, /--detail is not JSON/)

    const badPath = await runPoc(home, ['telemetry', 'tail', '--detail-path', 'items[x]'])
    assert.equal(badPath.exitCode, 2, badPath.stderr)
    assert.match(badPath.stderr, /pm refused GET \/api\/v1\/telemetry\/ui \(400\): detail_path/)

    const tooLong = await runPoc(home, ['telemetry', 'send', '--component', 'x'.repeat(201), '--event', 'x'])
    assert.equal(tooLong.exitCode, 2, tooLong.stderr)
    assert.match(tooLong.stderr, /pm refused POST \/api\/v1\/telemetry\/ui \(400\): component/)
  })

  it('exits 3 with what to do when no stack runs', async () => {
    const empty = makeHome('telemetry-empty')
    try {
      for (const args of [['tail'], ['tail', '-f'], ['send', '--component', 'ui', '--event', 'x']]) {
        const answer = await runPoc(empty, ['telemetry', ...args])
        assert.equal(answer.exitCode, 3, answer.stderr)
        assert.match(answer.stderr, /pm is not running in the stack at .*poc up/)
      }
    } finally {
      await cleanup(empty)
    }
  })
})
