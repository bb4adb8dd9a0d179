import assert from 'node:assert/strict'
import {readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {createProject} from '../../src/services/pm/domain.js'
import {PmStore} from '../../src/services/pm/store.js'
import {createLogger} from '../../src/services/shared/logger.js'
import {makeHome, repoRoot} from '../helpers.js'

const seedFile = path.join(repoRoot, 'fixtures/pm/seed.json')
const logger = createLogger('pm-test', 'silent')
const now = new Date('2026-11-23T00:00:00Z')

describe('pm state store', () => {
  it('starts from the seed data and persists every change before it resolves', async () => {
    const dir = makeHome('pmstore')
    const file = path.join(dir, 'pm-poc-state.json')
    try {
      const store = await PmStore.open(file, seedFile, logger)
      assert.equal(store.current.timesheets.length, 10)
      await store.mutate((state) => createProject(state, {projectCode: 'NEW-1', name: 'New'}, undefined, now))
      const onDisk = JSON.parse(readFileSync(file, 'utf8'))
      assert.ok(onDisk.projects.some((p: {projectCode: string}) => p.projectCode === 'NEW-1'))
      const reopened = await PmStore.open(file, seedFile, logger)
      assert.equal(reopened.current.projects.length, store.current.projects.length)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('leaves the state untouched when a change fails', async () => {
    const dir = makeHome('pmstore')
    try {
      const store = await PmStore.open(path.join(dir, 's.json'), seedFile, logger)
      const before = store.current.projects.length
      await assert.rejects(
        store.mutate((state) =>
          createProject(state, {projectCode: 'DX-2025-01', name: 'dup'}, undefined, now),
        ),
        {
          status: 409,
        },
      )
      assert.equal(store.current.projects.length, before)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('moves a corrupt file aside and starts from seed data', async () => {
    const dir = makeHome('pmstore')
    const file = path.join(dir, 's.json')
    try {
      writeFileSync(file, '{"projects": [')
      const store = await PmStore.open(file, seedFile, logger)
      assert.equal(store.current.timesheets.length, 10)
      assert.ok(readdirSync(dir).some((f) => f.startsWith('s.json.corrupt-')))
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('resets to the seed data', async () => {
    const dir = makeHome('pmstore')
    try {
      const store = await PmStore.open(path.join(dir, 's.json'), seedFile, logger)
      await store.mutate((state) => createProject(state, {projectCode: 'GONE', name: 'x'}, 'k', now))
      await store.reset(seedFile)
      assert.equal(
        store.current.projects.some((p) => p.projectCode === 'GONE'),
        false,
      )
      assert.deepEqual(store.current.projectRequests, {})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
