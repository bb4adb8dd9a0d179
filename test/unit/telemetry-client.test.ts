import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {Chalk} from 'chalk'
import {type TelemetryEvent, formatEvent, telemetryQuery} from '../../src/checks/telemetry.js'

const event = (overrides: Partial<TelemetryEvent> = {}): TelemetryEvent => ({
  id: 7,
  component: 'ui',
  event: 'fallback',
  level: 'warn',
  origin: 'client',
  detail: {marker: 'm-1', checks: [{status: 'fail'}]},
  receivedAt: '2026-11-23T09:05:03.042Z',
  ...overrides,
})

describe('telemetry client', () => {
  it('builds pm’s query from the filters that are set, with its parameter names', () => {
    const query = telemetryQuery(
      {
        component: 'ui',
        event: 'fallback',
        level: 'warn',
        origin: 'client',
        detail: '"m-1"',
        detailPath: '$.detail.marker',
        since: new Date('2026-11-23T09:00:00Z'),
      },
      {limit: '5'},
    )
    assert.deepEqual(Object.fromEntries(query), {
      component: 'ui',
      event: 'fallback',
      level: 'warn',
      origin: 'client',
      detail: '"m-1"',
      detail_path: '$.detail.marker',
      since: '2026-11-23T09:00:00.000Z',
      limit: '5',
    })
    assert.equal(telemetryQuery({}).toString(), '')
    assert.equal(telemetryQuery({detailPath: 'items[1].code'}).toString(), 'detail_path=items%5B1%5D.code')
  })

  it('prints one line: local time to the millisecond, level, component, event, compact detail', () => {
    const plain = new Chalk({level: 0})
    const at = new Date('2026-11-23T09:05:03.042Z')
    const time = [at.getHours(), at.getMinutes(), at.getSeconds()]
      .map((n) => String(n).padStart(2, '0'))
      .join(':')
    assert.equal(
      formatEvent(event(), plain),
      `${time}.042 warn  ui fallback {"marker":"m-1","checks":[{"status":"fail"}]}`,
    )
    assert.equal(
      formatEvent(event({detail: undefined, level: 'info'}), plain),
      `${time}.042 info  ui fallback`,
    )
  })

  it('colours the level only: error red, warn yellow, debug dim, info as is', () => {
    const colour = new Chalk({level: 1})
    const line = (level: string) => formatEvent(event({level, detail: undefined}), colour)
    assert.ok(line('error').includes(` ${colour.red('error')} ui`), line('error'))
    assert.ok(line('warn').includes(` ${colour.yellow('warn ')} ui`), line('warn'))
    assert.ok(line('debug').includes(` ${colour.dim('debug')} ui`), line('debug'))
    assert.ok(line('info').endsWith('.042 info  ui fallback'), line('info'))
    assert.notEqual(colour.red('error'), 'error', 'this chalk colours')
  })
})
