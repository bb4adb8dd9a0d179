import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {DetailPathError, evaluateDetailPath} from '../../src/services/pm/detail-path.js'

const event = {
  component: 'ui',
  detail: {
    marker: 'probe-42',
    items: [{code: 'A'}, {code: 'B'}],
    checks: [{status: 'ok'}, {status: 'fail'}, {name: 'no status'}],
    'odd key': 1,
  },
}

describe('detail_path', () => {
  const cases: Array<[string, unknown[]]> = [
    ['$.detail.marker', ['probe-42']],
    ['marker', ['probe-42']],
    ['items[1].code', ['B']],
    ['$.detail.items[0].code', ['A']],
    ['checks[*].status', ['ok', 'fail']],
    ['items[*]', [{code: 'A'}, {code: 'B'}]],
    ["$.detail['odd key']", [1]],
    ['$.component', ['ui']],
    ['items[5].code', []],
    ['missing.deeper', []],
    ['marker.length', []],
  ]
  for (const [path, expected] of cases) {
    it(`${path} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(evaluateDetailPath(path, event), expected)
    })
  }

  it('rejects what it cannot read, naming the part', () => {
    assert.throws(() => evaluateDetailPath('items[x]', event), DetailPathError)
    assert.throws(() => evaluateDetailPath('', event), /empty/)
    assert.throws(() => evaluateDetailPath('$..marker', event), /cannot read "\.\.marker"/)
  })
})

describe('detail_path on large documents', () => {
  it('fans out over a 300,000-element array without overflowing the stack', () => {
    const detail = Array.from({length: 300_000}, (_, i) => i)
    assert.equal(evaluateDetailPath('$.detail.*', {detail}).length, 300_000)
    assert.equal(evaluateDetailPath('$.detail[*]', {detail}).length, 300_000)
  })
})
