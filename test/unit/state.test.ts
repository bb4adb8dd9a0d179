import assert from 'node:assert/strict'
import {readdirSync, rmSync, writeFileSync} from 'node:fs'
import {describe, it} from 'node:test'
import {homeAt} from '../../src/stack/home.js'
import {emptyState, readState, upsertComponent, writeState} from '../../src/stack/state.js'
import {makeHome} from '../helpers.js'

describe('state file', () => {
  it('round-trips what runs, leaving no temp file behind', async () => {
    const home = homeAt(makeHome('state'))
    try {
      const state = emptyState('native', 1000)
      upsertComponent(state, {
        name: 'redis',
        runtime: 'native',
        ports: {redis: 7379},
        startedAt: new Date().toISOString(),
        logFile: home.logFile('redis'),
        processes: [{role: 'server', pid: 1234, startTicks: 99, command: 'redis-server'}],
      })
      await writeState(home, state)
      const loaded = await readState(home)
      assert.deepEqual(loaded.state?.components, state.components)
      assert.equal(loaded.state?.portOffset, 1000)
      assert.deepEqual(readdirSync(home.root), ['state.json'])
    } finally {
      rmSync(home.root, {recursive: true, force: true})
    }
  })

  it('is absent without a file', async () => {
    const home = homeAt(makeHome('state'))
    try {
      assert.deepEqual(await readState(home), {})
    } finally {
      rmSync(home.root, {recursive: true, force: true})
    }
  })

  it('moves a corrupt file aside with a warning, and only reports it when asked not to touch it', async () => {
    const home = homeAt(makeHome('state'))
    try {
      writeFileSync(home.stateFile, '{"version": 1, "components": [')
      const peek = await readState(home, {moveCorruptAside: false})
      assert.equal(peek.state, undefined)
      assert.match(peek.warning ?? '', /unreadable/)
      assert.deepEqual(readdirSync(home.root), ['state.json'])
      const loaded = await readState(home)
      assert.equal(loaded.state, undefined)
      assert.match(loaded.warning ?? '', /moved to .*state\.json\.corrupt-\d+/)
      assert.match(readdirSync(home.root).join(','), /^state\.json\.corrupt-\d+$/)
    } finally {
      rmSync(home.root, {recursive: true, force: true})
    }
  })
})
