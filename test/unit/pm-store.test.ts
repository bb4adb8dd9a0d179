import assert from 'node:assert/strict'
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {createProject} from '../../src/services/pm/domain.js'
import {journalFileOf, PmStore} from '../../src/services/pm/store.js'
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

  const link = (n: number) => ({invoiceId: `INV-J${n}`, timesheetId: 'TS-001', amount: 8000, status: 'draft'})
  const journalLines = (file: string) =>
    readFileSync(journalFileOf(file), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as {seq: number; link: {invoiceId: string}})

  it('journals an invoice link instead of rewriting the snapshot, and replays it on open', async () => {
    const dir = makeHome('pmstore-journal')
    const file = path.join(dir, 'pm-poc-state.json')
    try {
      const store = await PmStore.open(file, seedFile, logger)
      const snapshot = readFileSync(file, 'utf8')
      assert.equal(await store.link(link(1), now), true)
      assert.equal(await store.link(link(2), now), true)
      assert.equal(await store.link(link(1), now), false, 'a redelivery links nothing')
      assert.equal(readFileSync(file, 'utf8'), snapshot, 'the snapshot is not rewritten for a link')
      assert.deepEqual(
        journalLines(file).map((l) => [l.seq, l.link.invoiceId]),
        [
          [1, 'INV-J1'],
          [2, 'INV-J2'],
        ],
      )
      // A kill -9 leaves a torn last line: never acknowledged, skipped.
      appendFileSync(journalFileOf(file), '{"seq":3,"link":{"invoi')
      const reopened = await PmStore.open(file, seedFile, logger)
      const ids = reopened.current.invoices.map((i) => i.invoiceId)
      assert.ok(ids.includes('INV-J1') && ids.includes('INV-J2'))
      assert.equal(reopened.current.timesheets.find((t) => t.id === 'TS-001')?.invoiceId, 'INV-J2')
      assert.deepEqual(
        reopened.current.events.map((e) => e.id),
        store.current.events.map((e) => e.id),
        'the replay gives the same events',
      )
      assert.equal(await reopened.link(link(3), now), true)
      assert.deepEqual(
        journalLines(file).map((l) => l.seq),
        [1, 2, 3],
        'seq goes on from the journal, never reused',
      )
      await store.close()
      await reopened.close()
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('a snapshot drops the links it holds from the journal; the next ones go on from its seq', async () => {
    const dir = makeHome('pmstore-journal')
    const file = path.join(dir, 'pm-poc-state.json')
    try {
      const store = await PmStore.open(file, seedFile, logger, {compactAfter: 8})
      for (let n = 1; n <= 7; n++) await store.link(link(n), now)
      assert.equal(journalLines(file).length, 7)
      // Another change writes the snapshot, with every link so far.
      await store.mutate((state) => createProject(state, {projectCode: 'J-1', name: 'J'}, undefined, now))
      const onDisk = JSON.parse(readFileSync(file, 'utf8')) as {journalSeq: number; invoices: unknown[]}
      assert.equal(onDisk.journalSeq, 7)
      assert.equal(onDisk.invoices.length, 5 + 7)
      await store.close()
      assert.deepEqual(journalLines(file), [])
      const reopened = await PmStore.open(file, seedFile, logger, {compactAfter: 8})
      assert.equal(reopened.current.invoices.length, 12)
      // 12 invoices now: a snapshot once the journal holds 12 links.
      for (let n = 8; n <= 19; n++) await reopened.link(link(n), now)
      await reopened.close()
      const compacted = JSON.parse(readFileSync(file, 'utf8')) as {journalSeq: number; invoices: unknown[]}
      assert.equal(compacted.journalSeq, 19)
      assert.deepEqual(journalLines(file), [])
      const again = await PmStore.open(file, seedFile, logger)
      assert.equal(again.current.invoices.length, 5 + 19)
      assert.equal(await again.link(link(20), now), true)
      assert.deepEqual(
        journalLines(file).map((l) => l.seq),
        [20],
      )
      await again.close()
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('loads a state file of the old format (no journal) and journals from there', async () => {
    const dir = makeHome('pmstore-journal')
    const file = path.join(dir, 'pm-poc-state.json')
    try {
      const old = JSON.parse(readFileSync(seedFile, 'utf8')) as {invoices: unknown[]}
      old.invoices.push({
        invoiceId: 'INV-OLD',
        timesheetId: 'TS-002',
        status: 'draft',
        createdAt: now.toISOString(),
      })
      writeFileSync(file, JSON.stringify(old))
      const store = await PmStore.open(file, seedFile, logger)
      assert.ok(store.current.invoices.some((i) => i.invoiceId === 'INV-OLD' && i.source === 'fi'))
      assert.equal(await store.link({...link(1), invoiceId: 'INV-OLD'}, now), false)
      assert.equal(await store.link(link(1), now), true)
      await store.close()
      const reopened = await PmStore.open(file, seedFile, logger)
      assert.equal(reopened.current.invoices.length, 7)
      await reopened.close()
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('a reset forgets the journaled links; a journal without its state file is moved aside', async () => {
    const dir = makeHome('pmstore-journal')
    const file = path.join(dir, 'pm-poc-state.json')
    try {
      const store = await PmStore.open(file, seedFile, logger)
      await store.link(link(1), now)
      await store.reset(seedFile)
      await store.close()
      const reopened = await PmStore.open(file, seedFile, logger)
      assert.equal(reopened.current.invoices.length, 5, 'the link before the reset stays gone')
      await reopened.link(link(2), now)
      await reopened.close()
      rmSync(file)
      const fresh = await PmStore.open(file, seedFile, logger)
      assert.equal(fresh.current.invoices.length, 5)
      assert.ok(readdirSync(dir).some((f) => f.startsWith('pm-poc-state.journal.jsonl.orphan-')))
      await fresh.close()
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
