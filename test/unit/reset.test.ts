import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import type {ComponentName} from '../../src/stack/catalog.js'
import {PocError} from '../../src/stack/errors.js'
import {type PocHome, homeAt} from '../../src/stack/home.js'
import {readStat} from '../../src/stack/proc.js'
import {type ResetResult, purgeableQueues, resetStack, resetTargets} from '../../src/stack/reset.js'
import {emptyState, upsertComponent, writeState} from '../../src/stack/state.js'
import {makeHome} from '../helpers.js'

const core: ComponentName[] = [
  'rabbitmq',
  'redis',
  'pm',
  'fi',
  'sales',
  'credit',
  'contract',
  'invoice-worker',
]

/** The files each component leaves in its data directory, as the native runtime lays them out. */
const dataFiles: Record<string, string[]> = {
  rabbitmq: ['rabbitmq.conf', 'mnesia/poc@localhost/queues/x'],
  redis: ['appendonlydir/appendonly.aof.1.incr.aof'],
  pm: ['pm-poc-state.json', 'outbox.jsonl'],
  fi: ['fi-journal.jsonl', 'outbox.jsonl'],
  contract: ['contracts.json', 'outbox.jsonl'],
  sales: ['outbox.jsonl'],
  credit: ['credit-orders.json', 'outbox.jsonl'],
  'invoice-worker': ['outbox.jsonl'],
  prometheus: ['tsdb/chunk'],
  gateway: ['audit.log', 'outbox.offset', 'order-ids.json'],
  minio: [
    'invoices/compliance/a.pdf',
    'invoices/timesheets/b.csv',
    'invoices/contracts/c.pdf',
    'archive/compliance/d.pdf',
    '.minio.sys/config.json',
  ],
}

function stoppedStack(): PocHome {
  const home = homeAt(makeHome('reset-unit'))
  for (const [component, files] of Object.entries(dataFiles)) {
    for (const file of files) {
      const full = path.join(home.dataDirOf(component), file)
      mkdirSync(path.dirname(full), {recursive: true})
      writeFileSync(full, 'x')
    }
  }
  mkdirSync(home.logsDir, {recursive: true})
  writeFileSync(home.logFile('pm'), 'log line\n')
  return home
}

const exists = (home: PocHome, relative: string) => existsSync(path.join(home.dataDir, relative))
const modes = (result: ResetResult) => Object.fromEntries(result.steps.map((s) => [s.component, s.mode]))

describe('resetTargets', () => {
  it('covers the core stack, and the gateway and MinIO only when asked', () => {
    assert.deepEqual(resetTargets({withMinio: false, gateway: false}), core)
    assert.deepEqual(resetTargets({withMinio: true, gateway: true}), [...core, 'gateway', 'minio'])
  })
})

describe('purgeableQueues', () => {
  it("purges every queue but other clients' server-named ones, in name order", () => {
    assert.deepEqual(
      purgeableQueues(['shard.1', 'amq.gen-Xy', 'fi.inbox.dead', 'shard.0.dead', 'fi.inbox']),
      ['fi.inbox', 'fi.inbox.dead', 'shard.0.dead', 'shard.1'],
    )
  })
})

describe('resetStack on a stopped stack', () => {
  const homes: PocHome[] = []
  after(() => {
    for (const home of homes) rmSync(home.root, {recursive: true, force: true})
  })

  it("deletes the core components' data and keeps everything else", async () => {
    const home = stoppedStack()
    homes.push(home)
    const result = await resetStack({withMinio: false, gateway: false}, {home})
    assert.deepEqual(modes(result), Object.fromEntries(core.map((name) => [name, 'stopped'])))
    for (const name of core) assert.equal(exists(home, name), false, `data/${name} is gone`)
    assert.ok(exists(home, 'prometheus/tsdb/chunk'), 'metrics history is kept')
    assert.ok(exists(home, 'gateway/audit.log'), 'the gateway is reset only with --gateway')
    assert.ok(exists(home, 'minio/invoices/compliance/a.pdf'), 'MinIO is cleared only with --with-minio')
    assert.ok(existsSync(home.logFile('pm')), 'logs are kept')
    assert.ok(!existsSync(home.lockFile), 'the lock is released')

    const again = await resetStack({withMinio: false, gateway: false}, {home})
    assert.deepEqual(modes(again), Object.fromEntries(core.map((name) => [name, 'absent'])))
  })

  it("clears the gateway's WAL with --gateway", async () => {
    const home = stoppedStack()
    homes.push(home)
    const result = await resetStack({withMinio: false, gateway: true}, {home})
    assert.deepEqual(
      result.steps.filter((s) => s.component === 'gateway'),
      [
        {
          component: 'gateway',
          mode: 'stopped',
          action: 'deleted its data',
          detail: `${home.dataDirOf('gateway')}: its WAL and audit chain`,
        },
      ],
    )
    assert.equal(exists(home, 'gateway/audit.log'), false, 'the WAL is gone')
    assert.equal(exists(home, 'gateway/outbox.offset'), false, 'the outbox offset is gone')
    assert.ok(
      exists(home, 'gateway/order-ids.json'),
      'the order id reservation is kept: no id is handed out twice',
    )
  })

  it('refuses --with-minio while minio is stopped: its objects are cleared through its S3 API, never on disk', async () => {
    const home = stoppedStack()
    homes.push(home)
    await assert.rejects(resetStack({withMinio: true, gateway: false}, {home}), (error: unknown) => {
      assert.equal((error as {code?: string}).code, 'minio_stopped')
      assert.match((error as Error).message, /minio is not running/)
      return true
    })
    assert.ok(exists(home, 'minio/invoices/compliance/a.pdf'), 'nothing was deleted')
    assert.ok(exists(home, 'pm/outbox.jsonl'), 'nor anything else: the refusal comes first')
  })

  it('says MinIO is not part of a stack that never had it', async () => {
    const home = homeAt(makeHome('reset-unit'))
    homes.push(home)
    const result = await resetStack({withMinio: true, gateway: false}, {home})
    assert.deepEqual(result.steps.at(-1), {
      component: 'minio',
      mode: 'absent',
      action: 'nothing to clear',
      detail: 'not part of this stack',
    })
    assert.ok(result.steps.every((s) => s.mode === 'absent'))
  })

  it('takes a component recorded in the state file whose process is gone as stopped', async () => {
    const home = stoppedStack()
    homes.push(home)
    const gone = spawnSync('true').pid as number
    const state = emptyState('native', 0)
    upsertComponent(state, {
      name: 'pm',
      runtime: 'native',
      ports: {http: 3001},
      startedAt: new Date().toISOString(),
      logFile: home.logFile('pm'),
      processes: [{role: 'server', pid: gone, startTicks: 1, command: 'node'}],
    })
    await writeState(home, state)
    const result = await resetStack({withMinio: false, gateway: false}, {home})
    assert.equal(modes(result).pm, 'stopped')
    assert.equal(exists(home, 'pm'), false)
  })

  it('deletes nothing while a process the state file does not know still runs from a data directory', async () => {
    const home = stoppedStack()
    homes.push(home)
    const stray = spawn('sleep', ['30'], {cwd: home.dataDirOf('redis'), stdio: 'ignore'})
    try {
      await assert.rejects(
        resetStack({withMinio: false, gateway: false}, {home}),
        (error: unknown) =>
          error instanceof PocError &&
          error.code === 'untracked_process' &&
          error.message.includes(`pid ${stray.pid} still runs from ${home.dataDirOf('redis')}`),
      )
      for (const name of core) assert.ok(exists(home, name), `data/${name} is untouched`)
    } finally {
      stray.kill('SIGKILL')
    }
  })

  it('waits for no other mutating command: a live lock holder is an error', async () => {
    const home = stoppedStack()
    homes.push(home)
    writeFileSync(
      home.lockFile,
      JSON.stringify({pid: process.pid, startTicks: readStat(process.pid)?.startTicks, action: 'up'}),
    )
    await assert.rejects(
      resetStack({withMinio: false, gateway: false}, {home}),
      (error: unknown) => error instanceof PocError && error.code === 'locked',
    )
    assert.ok(exists(home, 'pm/pm-poc-state.json'))
  })
})
