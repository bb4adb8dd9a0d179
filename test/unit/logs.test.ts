import assert from 'node:assert/strict'
import {appendFileSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {describe, it} from 'node:test'
import {stripVTControlCharacters} from 'node:util'
import {homeAt} from '../../src/stack/home.js'
import {formatLogLine, renderLine, timeColumn} from '../../src/cli/log-view.js'
import {
  type LogLine,
  followLogs,
  lineTime,
  linesSince,
  parsePinoLine,
  parseSince,
  readLogs,
} from '../../src/stack/logs.js'
import {parseDuration} from '../../src/lib/duration.js'
import {makeHome} from '../helpers.js'

describe('log lines', () => {
  it('reads the time of each component’s log format', () => {
    const at = Date.parse('2026-11-23T00:30:37.759Z')
    assert.equal(lineTime('2026-11-23 00:30:37.759295+00:00 [info] <0.666.0> Server startup complete'), at)
    assert.equal(lineTime('[poc] 2026-11-23T00:30:37.759Z starting server: redis-server'), at)
    assert.equal(lineTime('5077:M 23 Nov 2026 00:30:37.759 * Ready to accept connections'), at)
    assert.equal(lineTime('ts=2026-11-23T00:30:37.759Z caller=main.go level=info'), at)
    assert.equal(lineTime(`{"level":30,"time":${at},"msg":"listening"}`), at)
    assert.equal(lineTime('    at Object.<anonymous> (file.js:1:1)'), undefined)
  })

  it('keeps lines since a time, with untimed lines going along with the line before', () => {
    const lines = [
      '2026-11-23 00:00:00.000000+00:00 [info] old',
      '  old continuation',
      '2026-11-23 00:10:00.000000+00:00 [error] new',
      '  new continuation',
    ]
    assert.deepEqual(linesSince(lines, new Date('2026-11-23T00:05:00Z')), lines.slice(2))
  })

  it('parses --since as a duration back or a date', () => {
    const now = Date.parse('2026-11-23T12:00:00Z')
    assert.equal(parseSince('10m', now)?.toISOString(), '2026-11-23T11:50:00.000Z')
    assert.equal(parseSince('2h', now)?.toISOString(), '2026-11-23T10:00:00.000Z')
    assert.equal(parseSince('2026-11-23T08:00:00Z', now)?.toISOString(), '2026-11-23T08:00:00.000Z')
    assert.equal(parseSince('yesterday-ish', now), undefined)
  })

  it('parses durations for --timeout', () => {
    assert.equal(parseDuration('90'), 90_000)
    assert.equal(parseDuration('90s'), 90_000)
    assert.equal(parseDuration('2m'), 120_000)
    assert.equal(parseDuration('1500ms'), 1500)
    assert.equal(parseDuration('-5s'), undefined)
    assert.equal(parseDuration('soon'), undefined)
  })

  it('shows the last lines of each log, per component', async () => {
    const home = homeAt(makeHome('logs'))
    try {
      mkdirSync(home.logsDir, {recursive: true})
      writeFileSync(home.logFile('redis'), Array.from({length: 500}, (_, i) => `line ${i}`).join('\n') + '\n')
      const lines = await readLogs(home, ['redis'], {tail: 3})
      assert.deepEqual(
        lines.map((l) => l.line),
        ['line 497', 'line 498', 'line 499'],
      )
      assert.deepEqual(await readLogs(home, ['rabbitmq'], {tail: 3}), [])
    } finally {
      rmSync(home.root, {recursive: true, force: true})
    }
  })

  it('follows from the end: whole lines only, and from the start again after truncation', async () => {
    const home = homeAt(makeHome('logs'))
    const seen: LogLine[] = []
    const controller = new AbortController()
    const until = async (count: number) => {
      for (let i = 0; i < 100 && seen.length < count; i++) await new Promise((r) => setTimeout(r, 50))
    }
    try {
      mkdirSync(home.logsDir, {recursive: true})
      writeFileSync(home.logFile('redis'), 'before follow\n')
      const following = followLogs(home, ['redis'], (line) => seen.push(line), controller.signal)
      await new Promise((r) => setTimeout(r, 100))
      appendFileSync(home.logFile('redis'), 'first\nhalf')
      await until(1)
      await new Promise((r) => setTimeout(r, 300))
      assert.deepEqual(
        seen.map((l) => l.line),
        ['first'],
      )
      appendFileSync(home.logFile('redis'), ' done\n')
      await until(2)
      writeFileSync(home.logFile('redis'), 'after truncate\n')
      await until(3)
      controller.abort()
      await following
      assert.deepEqual(
        seen.map((l) => l.line),
        ['first', 'half done', 'after truncate'],
      )
    } finally {
      controller.abort()
      rmSync(home.root, {recursive: true, force: true})
    }
  })
})

describe('the merged view of several logs', () => {
  const t = (s: number) => `2026-11-23 00:00:${String(s).padStart(2, '0')}.000000+00:00`

  it('merges logs in the order their lines were written, untimed lines with the line before', async () => {
    const home = homeAt(makeHome('logs'))
    try {
      mkdirSync(home.logsDir, {recursive: true})
      writeFileSync(home.logFile('rabbitmq'), `${t(1)} [info] r1\n${t(4)} [error] r4\n  r4 trace\n`)
      const pm = [
        `{"level":30,"time":${Date.parse('2026-11-23T00:00:02Z')},"service":"pm","name":"pm","msg":"p2"}`,
        `{"level":40,"time":${Date.parse('2026-11-23T00:00:05Z')},"service":"pm","name":"pm","msg":"p5"}`,
      ]
      writeFileSync(home.logFile('pm'), `${pm.join('\n')}\n`)
      writeFileSync(home.logFile('redis'), '1:M 23 Nov 2026 00:00:03.000 * d3\n')
      const lines = await readLogs(home, ['rabbitmq', 'redis', 'pm'], {tail: 10})
      assert.deepEqual(
        lines.map((l) => [l.component, l.time?.slice(17, 19), l.level ?? null, l.message ?? null]),
        [
          ['rabbitmq', '01', null, null],
          ['pm', '02', 'info', 'p2'],
          ['redis', '03', null, null],
          ['rabbitmq', '04', null, null],
          ['rabbitmq', '04', null, null],
          ['pm', '05', 'warn', 'p5'],
        ],
      )
      assert.equal(lines[4]?.line, '  r4 trace')
    } finally {
      rmSync(home.root, {recursive: true, force: true})
    }
  })

  it('renders a pino line as level, message and fields, and leaves any other line alone', () => {
    const line = JSON.stringify({
      level: 50,
      time: 1,
      pid: 9,
      hostname: 'h',
      service: 'pm',
      name: 'pm',
      msg: 'publish failed',
      queue: 'pm.inbox',
      attempt: 2,
      note: 'two words',
      err: {type: 'Error', message: 'closed', stack: 'Error: closed\n    at x'},
    })
    assert.equal(
      stripVTControlCharacters(renderLine(line)),
      'ERROR publish failed queue=pm.inbox attempt=2 note="two words" err="Error: closed"',
    )
    assert.equal(renderLine('{"level": not json'), '{"level": not json')
    assert.equal(renderLine('5077:M 23 Nov 2026 * Ready'), '5077:M 23 Nov 2026 * Ready')
    assert.equal(parsePinoLine('{"msg":"no level"}'), undefined)
  })

  it('puts a local time column before the line, blank when the time is unknown', () => {
    const at = new Date(2026, 10, 23, 9, 8, 7, 6)
    assert.equal(timeColumn(at.toISOString()), '09:08:07.006')
    assert.equal(timeColumn(null), ' '.repeat(12))
    assert.equal(
      stripVTControlCharacters(
        formatLogLine({component: 'redis', time: at.toISOString(), line: 'x'}, 8, (s) => s),
      ),
      'redis    | 09:08:07.006 x',
    )
  })
})
