import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'
import {homeAt} from '../../src/stack/home.js'
import {withLock} from '../../src/stack/lock.js'
import {readStat} from '../../src/stack/proc.js'

describe('the stack lock', () => {
  const fresh = () => homeAt(mkdtempSync(path.join(os.tmpdir(), 'poc-lock-')))

  it('refuses while a live process holds it, naming it', async () => {
    const home = fresh()
    const me = {pid: process.pid, startTicks: readStat(process.pid)?.startTicks, action: 'up'}
    writeFileSync(home.lockFile, JSON.stringify(me))
    await assert.rejects(
      withLock(home, 'down', async () => 'ran'),
      new RegExp(`another poc up \\(pid ${process.pid}\\) is working on`),
    )
  })

  it('does not take over a lock that was just created and is still empty (its creator is writing it)', async () => {
    const home = fresh()
    writeFileSync(home.lockFile, '')
    await assert.rejects(
      withLock(home, 'up', async () => 'ran'),
      /another poc command is working on/,
    )
  })

  it('takes over the lock of a process that is gone, and releases it after the work', async () => {
    const home = fresh()
    writeFileSync(home.lockFile, JSON.stringify({pid: 2 ** 22 + 1, startTicks: 1, action: 'up'}))
    assert.equal(await withLock(home, 'up', async () => 'ran'), 'ran')
    assert.equal(await withLock(home, 'up', async () => 'again'), 'again')
  })
})
