import assert from 'node:assert/strict'
import {existsSync, readFileSync, rmSync, writeFileSync, appendFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {normaliseLevel} from '../../src/contract/telemetry.js'
import {TelemetryStore, parseLastEventId, parseQuery, seedTelemetry} from '../../src/services/pm/telemetry.js'
import {makeHome, repoRoot} from '../helpers.js'

function store(
  dir: string,
  overrides: Partial<ConstructorParameters<typeof TelemetryStore>[0]> = {},
): TelemetryStore {
  return new TelemetryStore({
    logPath: path.join(dir, 'telemetry.log'),
    maxLogBytes: 5 * 1024 * 1024,
    maxArchives: 3,
    ...overrides,
  })
}

async function seeded(dir: string): Promise<TelemetryStore> {
  const s = store(dir)
  const at = (i: number) => new Date(Date.UTC(2026, 10, 23, 0, 0, i))
  await s.record(
    {component: 'ui', event: 'click', level: 'info', origin: 'client', detail: {marker: 'm-1'}},
    at(1),
  )
  await s.record(
    {
      component: 'ui',
      event: 'fallback',
      level: 'warn',
      origin: 'client',
      detail: {checks: [{status: 'fail'}]},
    },
    at(2),
  )
  await s.record(
    {
      component: 'server',
      event: 'fallback',
      level: 'error',
      origin: 'server',
      detail: {items: [{code: 'A'}, {code: 'B'}]},
    },
    at(3),
  )
  await s.record({component: 'server', event: 'boot', origin: 'server'}, at(4))
  return s
}

describe('telemetry', () => {
  it('filters by each field, exactly', async () => {
    const dir = makeHome('telemetry')
    try {
      const s = await seeded(dir)
      const events = (q: Record<string, string>) => s.query(q).items.map((e) => e.event)
      assert.deepEqual(events({component: 'ui'}), ['fallback', 'click'])
      assert.deepEqual(events({event: 'fallback'}), ['fallback', 'fallback'])
      assert.deepEqual(events({level: 'error'}), ['fallback'])
      assert.deepEqual(events({origin: 'server'}), ['boot', 'fallback'])
      assert.deepEqual(events({detail: 'm-1'}), ['click'])
      assert.deepEqual(events({detail_path: '$.detail.marker'}), ['click'])
      assert.deepEqual(events({detail_path: 'checks[*].status'}), ['fallback'])
      assert.deepEqual(events({detail_path: 'items[1].code'}), ['fallback'])
      assert.deepEqual(events({since: '2026-11-23T00:00:03Z'}), ['boot', 'fallback'])
      assert.deepEqual(events({until: '2026-11-23T00:00:01Z'}), ['click'])
      assert.equal(s.query({level: 'info'}).items[0]?.event, 'boot', 'level defaults to info')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('sorts, orders and pages, reporting the total', async () => {
    const dir = makeHome('telemetry')
    try {
      const s = await seeded(dir)
      const page = s.query({sort: 'component', order: 'asc', limit: '2', offset: '1'})
      assert.deepEqual(
        page.items.map((e) => `${e.component}/${e.event}`),
        ['server/boot', 'ui/click'],
      )
      assert.deepEqual(
        {total: page.total, limit: page.limit, offset: page.offset, sort: page.sort, order: page.order},
        {
          total: 4,
          limit: 2,
          offset: 1,
          sort: 'component',
          order: 'asc',
        },
      )
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('refuses bad input and bad queries with 400 validation_failed naming the field', async () => {
    const dir = makeHome('telemetry')
    try {
      const s = store(dir)
      await assert.rejects(s.record({event: 'x'}), {
        status: 400,
        code: 'validation_failed',
        message: /^component:/,
      })
      await assert.rejects(s.record({component: 'ui', event: 'x', level: 'loud'}), {message: /^level:/})
      assert.throws(() => s.query({limit: '500'}), {status: 400, message: /^limit:/})
      assert.throws(() => s.query({sort: 'size'}), {message: /^sort:/})
      assert.throws(() => s.query({detail_path: 'items[x]'}), {status: 400, message: /detail_path/})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('keeps the last 200 in memory, reloads them after a restart, and skips a torn line', async () => {
    const dir = makeHome('telemetry')
    try {
      const first = store(dir)
      for (let i = 0; i < 205; i++) await first.record({component: 'ui', event: `e${i}`})
      assert.equal(first.query({limit: '200'}).total, 200)
      appendFileSync(path.join(dir, 'telemetry.log'), '{"id": 999, "compo')
      const second = store(dir)
      await second.load()
      const {items, total} = second.query({limit: '1'})
      assert.equal(total, 200)
      assert.equal(items[0]?.event, 'e204')
      const next = await second.record({component: 'ui', event: 'after restart'})
      assert.equal(next.id, 206, 'ids continue after a restart')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('rotates the log above its size, keeping the configured number of archives', async () => {
    const dir = makeHome('telemetry')
    try {
      const log = path.join(dir, 'telemetry.log')
      writeFileSync(log, '')
      const s = store(dir, {maxLogBytes: 300, maxArchives: 2})
      for (let i = 0; i < 12; i++)
        await s.record({component: 'ui', event: `event-${i}`, detail: {pad: 'x'.repeat(60)}})
      assert.ok(existsSync(`${log}.1`) && existsSync(`${log}.2`))
      assert.equal(existsSync(`${log}.3`), false)
      assert.match(readFileSync(log, 'utf8'), /event-11/)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('replays, in order, the kept events after a Last-Event-ID that match the filters', async () => {
    const dir = makeHome('telemetry')
    try {
      const s = await seeded(dir)
      const replay = (after: number, query: Record<string, string> = {}) => {
        const {resync, events} = s.replay(after, parseQuery(query))
        return {resync, ids: events.map((e) => e.id)}
      }
      assert.deepEqual(replay(1), {resync: undefined, ids: [2, 3, 4]})
      assert.deepEqual(replay(0, {origin: 'server'}), {resync: undefined, ids: [3, 4]})
      assert.deepEqual(replay(2, {event: 'fallback'}), {resync: undefined, ids: [3]})
      assert.deepEqual(replay(4), {resync: undefined, ids: []})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('asks for a resync when events after the Last-Event-ID are no longer kept, then sends what is', async () => {
    const dir = makeHome('telemetry')
    try {
      const s = store(dir, {keep: 3})
      for (let i = 0; i < 6; i++) await s.record({component: 'ui', event: `e${i + 1}`})
      const lost = s.replay(1, {})
      assert.match(lost.resync?.reason ?? '', /up to id 3 are no longer kept/)
      assert.equal(lost.resync?.lastEventId, 1)
      assert.deepEqual(
        lost.events.map((e) => e.id),
        [4, 5, 6],
      )
      assert.equal(s.replay(3, {}).resync, undefined, 'id 3 was seen, so nothing after it is lost')
      const unknown = s.replay(99, {})
      assert.match(unknown.resync?.reason ?? '', /no event with id 99 was ever recorded/)
      assert.deepEqual(
        unknown.events.map((e) => e.id),
        [4, 5, 6],
      )
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('after a restart, knows which events it no longer keeps', async () => {
    const dir = makeHome('telemetry')
    try {
      const first = store(dir, {keep: 3})
      for (let i = 0; i < 5; i++) await first.record({component: 'ui', event: `e${i + 1}`})
      const second = store(dir, {keep: 3})
      await second.load()
      assert.match(second.replay(1, {}).resync?.reason ?? '', /up to id 2 are no longer kept/)
      assert.deepEqual(
        second.replay(2, {}).events.map((e) => e.id),
        [3, 4, 5],
      )
      assert.equal(second.replay(2, {}).resync, undefined)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('continues its ids after a restart that finds the log just rotated (or emptied by a crash mid-rotation)', async () => {
    const dir = makeHome('telemetry')
    try {
      const log = path.join(dir, 'telemetry.log')
      const first = store(dir, {maxLogBytes: 300, maxArchives: 2})
      for (let i = 0; i < 12; i++)
        await first.record({component: 'ui', event: `event-${i}`, detail: {pad: 'x'.repeat(60)}})
      // The state a kill between the rename and the append leaves: the events are all in archives.
      writeFileSync(`${log}.2`, readFileSync(`${log}.1`))
      writeFileSync(`${log}.1`, readFileSync(log))
      writeFileSync(log, '')
      const second = store(dir, {maxLogBytes: 300, maxArchives: 2})
      await second.load()
      assert.equal((await second.record({component: 'ui', event: 'after'})).id, 13)
      assert.deepEqual(
        second.replay(9, {}).events.map((e) => e.event),
        ['event-9', 'event-10', 'event-11', 'after'],
      )
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('pushes an event to listeners only once it is kept, so replay and push never overlap', async () => {
    const dir = makeHome('telemetry')
    try {
      const s = store(dir)
      const keptWhenPushed: boolean[] = []
      s.onEvent((event) =>
        keptWhenPushed.push(s.replay(event.id - 1, {}).events.some((e) => e.id === event.id)),
      )
      const pending = s.record({component: 'ui', event: 'a'})
      assert.equal(s.query({}).total, 0, 'not kept before it is in the log')
      await Promise.all([pending, s.record({component: 'ui', event: 'b'})])
      assert.deepEqual(keptWhenPushed, [true, true])
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('reads a Last-Event-ID as a whole number, refusing anything else with 400', () => {
    assert.equal(parseLastEventId(undefined), undefined)
    assert.equal(parseLastEventId(''), undefined)
    assert.equal(parseLastEventId('42'), 42)
    for (const bad of ['abc', '-1', '1.5', '1e3', ['1']])
      assert.throws(() => parseLastEventId(bad), {
        status: 400,
        code: 'validation_failed',
        message: /^lastEventId:/,
      })
  })
})

describe('telemetry under hostile input', () => {
  it('keeps answering queries with detail_path while a 300,000-element detail is kept', async () => {
    const dir = makeHome('telemetry-wide')
    try {
      const s = store(dir)
      await s.record({component: 'ui', event: 'wide', detail: Array.from({length: 300_000}, () => 0)})
      const result = s.query({detail_path: '$.detail.*'})
      assert.equal(result.total, 1)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('records the event and resolves the POST even when a subscriber throws', async () => {
    const dir = makeHome('telemetry-listener')
    try {
      const failures: unknown[] = []
      const s = store(dir, {onListenerError: (error) => failures.push(error)})
      s.onEvent(() => {
        throw new RangeError('Maximum call stack size exceeded')
      })
      const seen: number[] = []
      s.onEvent((event) => seen.push(event.id))
      const event = await s.record({component: 'ui', event: 'ok'})
      assert.deepEqual(seen, [event.id])
      assert.equal(failures.length, 1)
      assert.equal(s.query({}).total, 1)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe("telemetry from the seed's senders", () => {
  it("normalises the level names the seed's senders use, in any case, and says which it knows", async () => {
    const table = Object.fromEntries(
      [
        'debug',
        'trace',
        'info',
        'notice',
        'warn',
        'warning',
        'WARNING ',
        'error',
        'err',
        'critical',
        'fatal',
        'loud',
      ].map((name) => [name, normaliseLevel(name)]),
    )
    assert.deepEqual(table, {
      debug: 'debug',
      trace: 'debug',
      info: 'info',
      notice: 'info',
      warn: 'warn',
      warning: 'warn',
      'WARNING ': 'warn',
      error: 'error',
      err: 'error',
      critical: 'error',
      fatal: 'error',
      loud: undefined,
    })
    assert.equal(normaliseLevel('constructor'), undefined, 'no name of Object.prototype is a level')
    const dir = makeHome('telemetry-levels')
    try {
      const s = store(dir)
      const stored = await s.record({component: 'script', event: 'sample', level: 'warning'})
      assert.equal(stored.level, 'warn')
      await s.record({component: 'script', event: 'sample', level: 'Fatal'})
      assert.deepEqual(
        s.query({level: 'warning'}).items.map((e) => e.level),
        ['warn'],
        '?level=warning finds what was stored as warn',
      )
      assert.equal(s.query({level: 'error'}).total, 1)
      await assert.rejects(s.record({component: 'ui', event: 'x', level: 'loud'}), {
        status: 400,
        message: /^level: unknown level "loud"; expected one of trace, debug, info, .*warning.*fatal$/,
      })
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it("keeps the sender's address, and reloads it with the event", async () => {
    const dir = makeHome('telemetry-ip')
    try {
      const s = store(dir)
      await s.record({component: 'ui', event: 'x', ip: '10.9.9.9'}, new Date(), {ip: '127.0.0.1'})
      await s.record({component: 'ui', event: 'y'})
      const reloaded = store(dir)
      await reloaded.load()
      assert.deepEqual(
        reloaded.query({order: 'asc'}).items.map((e) => e.ip),
        ['127.0.0.1', undefined],
        'the address pm saw, never one the body claims',
      )
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it("seeds the sample events into an empty store only, and /health/telemetry reports them as the seed's pm does", async () => {
    const dir = makeHome('telemetry-seed')
    const file = path.join(repoRoot, 'fixtures/pm/telemetry-seed.json')
    try {
      const s = store(dir)
      assert.deepEqual(s.health(), {
        status: 'empty',
        message: 'no seeded telemetry events recorded',
        events: {total: 0, seeded: 0, lastEventAt: null, lastSeededAt: null},
        fallbackActive: false,
      })
      const now = new Date('2026-02-01T12:00:00.000Z')
      assert.equal(await seedTelemetry(s, file, now), 5)
      const items = s.query({order: 'asc'}).items
      assert.equal(items.length, 5)
      for (const item of items) {
        assert.equal((item.detail as {seeded?: unknown}).seeded, true)
        assert.equal(item.ip, 'seed::pm')
        assert.equal(item.receivedAt, now.toISOString())
      }
      assert.deepEqual(
        items.map((e) => e.timestamp),
        [7500, 6000, 4500, 3000, 1500].map((ms) => new Date(now.getTime() - ms).toISOString()),
      )
      assert.equal(await seedTelemetry(s, file, now), 0, 'never over events that are there')
      await s.record({component: 'ui', event: 'later'}, new Date('2026-02-01T12:00:05.000Z'))
      assert.deepEqual(s.health(), {
        status: 'ok',
        message: 'telemetry events available',
        events: {
          total: 6,
          seeded: 5,
          lastEventAt: '2026-02-01T12:00:05.000Z',
          lastSeededAt: '2026-02-01T11:59:58.500Z',
        },
        fallbackActive: false,
      })
      const restarted = store(dir)
      await restarted.load()
      assert.equal(await seedTelemetry(restarted, file), 0, 'a restart keeps what was there and adds none')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
