import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {nodeCheck} from '../../src/checks/doctor.js'

describe('doctor', () => {
  it('requires Node.js 20.18 or newer', () => {
    assert.equal(nodeCheck('20.18.0').status, 'ok')
    assert.equal(nodeCheck('22.1.0').status, 'ok')
    assert.equal(nodeCheck('20.17.9').status, 'fail')
    assert.match(nodeCheck('18.20.0').fix ?? '', /20\.18/)
  })
})
