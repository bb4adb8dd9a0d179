import assert from 'node:assert/strict'
import {mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {createProject} from '../../src/services/pm/domain.js'
import {PmStore} from '../../src/services/pm/store.js'
import {HttpError} from '../../src/services/shared/http.js'
import {createLogger} from '../../src/services/shared/logger.js'
import {makeHome, repoRoot} from '../helpers.js'

const seedFile = path.join(repoRoot, 'fixtures/pm/seed.json')
const logger = createLogger('pm-test', 'silent')
const now = new Date('2026-11-23T00:00:00Z')

describe('pm state store', () => {
  it('refuses a change it cannot save with 503 state_unwritable, reports it on /health, and recovers', async () => {
    const home = makeHome('pmstore-unwritable')
    const dir = path.join(home, 'pm')
    mkdirSync(dir)
    const file = path.join(dir, 'pm-poc-state.json')
    try {
      const store = await PmStore.open(file, seedFile, logger)
      assert.equal((await store.health()).writable, true)
      // The directory becomes a plain file: every write fails, whoever runs the test (root too).
      renameSync(dir, `${dir}.away`)
      writeFileSync(dir, '')
      const refused = await store
        .mutate((state) => createProject(state, {projectCode: 'LOST-1', name: 'Lost'}, undefined, now))
        .catch((error: unknown) => error)
      assert.ok(refused instanceof HttpError, String(refused))
      assert.equal(refused.status, 503)
      assert.equal(refused.code, 'state_unwritable')
      assert.match(refused.message, /cannot save the pm state to .*pm-poc-state\.json: ENOTDIR/)
      const broken = await store.health()
      assert.equal(broken.writable, false)
      assert.match(broken.error ?? '', /ENOTDIR/)
      rmSync(dir)
      renameSync(`${dir}.away`, dir)
      assert.equal((await store.health()).writable, true, 'health retries the write and clears')
    } finally {
      rmSync(home, {recursive: true, force: true})
    }
  })

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
