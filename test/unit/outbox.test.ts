import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {appendFileSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'
import {makeEnvelope, withSeedApprovalFields} from '../../src/contract/envelope.js'
import {Outbox, type OutboxRecord} from '../../src/services/shared/outbox.js'
import {repoRoot} from '../helpers.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'poc-outbox-'))
let files = 0
const freshFile = () => path.join(dir, `case-${++files}`, 'outbox.jsonl')

function entry(key: string, n = 0): Omit<OutboxRecord, 'id'> {
  const envelope = makeEnvelope({type: 'pm.timesheet.approved', key, payload: {timesheetId: key, n}})
  return {
    exchange: 'events',
    routingKey: 'shard.1',
    envelope,
    headers: {idempotencyKey: envelope.idempotencyKey, type: envelope.type},
  }
}

function fileLines(file: string): unknown[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown)
}

describe('Outbox', () => {
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('keeps appended records in order, one JSON line each, and reloads them', async () => {
    const file = freshFile()
    const outbox = await Outbox.open(file)
    const first = await outbox.append(entry('TS-1'))
    const second = await outbox.append(entry('TS-2'))
    assert.equal(outbox.depth, 2)
    assert.deepEqual(outbox.pending(), [first, second])
    assert.deepEqual(fileLines(file), [first, second])
    assert.deepEqual(Object.keys(first).sort(), ['envelope', 'exchange', 'headers', 'id', 'routingKey'])

    // No close: what a kill -9 leaves behind.
    const reopened = await Outbox.open(file)
    assert.deepEqual(reopened.pending(), [first, second])
    assert.deepEqual(reopened.recovery, {pending: 2, skippedLines: 0})
    await reopened.close()
    // Only to release its file handle: the stale instance rewrites the file, which is done with.
    await outbox.close()
  })

  it("reloads the fields sent beside the envelope (the seed's, on pm's approvals) and the headers", async () => {
    const file = freshFile()
    const outbox = await Outbox.open(file)
    const plain = entry('TS-9')
    const record = await outbox.append({
      ...plain,
      envelope: withSeedApprovalFields(plain.envelope, {
        timesheetId: 'TS-9',
        hours: 3,
        employeeId: 'E-001',
        projectId: 'P-001',
        approvedBy: 'M-API',
        rateType: 'standard',
      }),
      headers: {...plain.headers, timesheetId: 'TS-9'},
    })
    const reopened = await Outbox.open(file)
    assert.deepEqual(reopened.pending(), [record])
    assert.equal((reopened.pending()[0]?.envelope as {timesheetId?: string}).timesheetId, 'TS-9')
    await reopened.close()
    await outbox.close()
  })

  it('keeps the call order of concurrent appends', async () => {
    const outbox = await Outbox.open(freshFile())
    const records = await Promise.all(Array.from({length: 50}, (_, i) => outbox.append(entry('TS-9', i))))
    assert.deepEqual(
      outbox.pending().map((r) => r.envelope.payload),
      records.map((_, i) => ({timesheetId: 'TS-9', n: i})),
    )
    const reopened = await Outbox.open(outbox.file)
    assert.deepEqual(reopened.pending(), records)
    await reopened.close()
    await outbox.close()
  })

  it('drops sent records: they do not come back on reload, and compaction removes their lines', async () => {
    const file = freshFile()
    const outbox = await Outbox.open(file, {compactAfter: 100})
    const [a, b, c] = [
      await outbox.append(entry('A')),
      await outbox.append(entry('B')),
      await outbox.append(entry('C')),
    ]
    await outbox.markSent(b.id)
    assert.deepEqual(outbox.pending(), [a, c])
    assert.deepEqual(fileLines(file), [a, b, c, {sent: b.id}])

    const reopened = await Outbox.open(file)
    assert.deepEqual(reopened.pending(), [a, c])
    // Opening compacts: only the unsent records are left in the file.
    assert.deepEqual(fileLines(file), [a, c])
    await reopened.markSent(a.id)
    await reopened.close()
    assert.deepEqual(fileLines(file), [c])
    await outbox.close()
  })

  it('compacts by itself once enough lines describe sent records', async () => {
    const file = freshFile()
    const outbox = await Outbox.open(file, {compactAfter: 4})
    const records = [
      await outbox.append(entry('A')),
      await outbox.append(entry('B')),
      await outbox.append(entry('C')),
    ]
    await outbox.markSent(records[0]!.id)
    assert.equal(fileLines(file).length, 4)
    await outbox.markSent(records[1]!.id)
    assert.deepEqual(fileLines(file), [records[2]])
    const more = await outbox.append(entry('D'))
    assert.deepEqual(fileLines(file), [records[2], more])
    await outbox.close()
  })

  it('loads the complete records when the last line is torn, and appends cleanly after it', async () => {
    const file = freshFile()
    const outbox = await Outbox.open(file)
    const a = await outbox.append(entry('A'))
    const b = await outbox.append(entry('B'))
    const line = JSON.stringify({...entry('C'), id: 'torn'})
    appendFileSync(file, line.slice(0, Math.floor(line.length / 2)))

    const reopened = await Outbox.open(file)
    assert.deepEqual(reopened.pending(), [a, b])
    assert.deepEqual(reopened.recovery, {pending: 2, skippedLines: 1})
    const c = await reopened.append(entry('C'))

    const again = await Outbox.open(file)
    assert.deepEqual(again.pending(), [a, b, c])
    assert.deepEqual(again.recovery, {pending: 3, skippedLines: 0})
    await again.close()
    await reopened.close()
    await outbox.close()
  })

  it('refuses a record it could not read back, and fails after close', async () => {
    const outbox = await Outbox.open(freshFile())
    const bad = {...entry('A'), envelope: {...entry('A').envelope, payload: [1, 2]}}
    await assert.rejects(
      outbox.append(bad),
      /refusing an outbox record that could not be reloaded: envelope\.payload/,
    )
    assert.equal(outbox.depth, 0)
    await outbox.close()
    await assert.rejects(outbox.append(entry('B')), /cannot append to the outbox .*: it is closed/)
  })

  it('loses no accepted record when its process is killed with SIGKILL at any moment', async () => {
    const file = freshFile()
    const acked = new Set<string>()
    const sent = new Set<string>()
    const rounds = 8
    for (let round = 0; round < rounds; round++) {
      await appendUntilKilled(file, 30 + ((round * 37) % 120), acked, sent)
      const outbox = await Outbox.open(file)
      const pending = new Set(outbox.pending().map((r) => r.id))
      const missing = [...acked].filter((id) => !sent.has(id) && !pending.has(id))
      assert.deepEqual(missing, [], `round ${round}: accepted records lost`)
      await outbox.close()
    }
    assert.ok(acked.size >= rounds, `only ${acked.size} appends were acknowledged`)
  })
})

/**
 * A child process appends as fast as it can (several appends in flight, every third record
 * marked sent, compacting often) and prints each record id once its append resolved. It is
 * killed with SIGKILL `killAfterMs` after its first acknowledgement: a timer, not an output
 * line, so the kill lands anywhere, compactions included.
 */
async function appendUntilKilled(
  file: string,
  killAfterMs: number,
  acked: Set<string>,
  sent: Set<string>,
): Promise<void> {
  const outboxModule = pathToFileURL(path.join(repoRoot, 'src/services/shared/outbox.ts')).href
  const envelopeModule = pathToFileURL(path.join(repoRoot, 'src/contract/envelope.ts')).href
  const script = `
    import {Outbox} from ${JSON.stringify(outboxModule)}
    import {makeEnvelope} from ${JSON.stringify(envelopeModule)}
    const outbox = await Outbox.open(${JSON.stringify(file)}, {compactAfter: 10})
    let n = 0
    const worker = async () => {
      for (;;) {
        const envelope = makeEnvelope({type: 't', key: 'k', payload: {n: n++}})
        const record = await outbox.append({exchange: 'events', routingKey: 'shard.0', envelope, headers: {}})
        process.stdout.write('A ' + record.id + '\\n')
        if (n % 3 === 0) {
          process.stdout.write('S ' + record.id + '\\n')
          void outbox.markSent(record.id)
        }
      }
    }
    await Promise.all([worker(), worker(), worker()])
  `
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  let buffered = ''
  const before = acked.size
  // 'close', not 'exit': the ids the child printed before it died must all be read.
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('close', (_code, signal) => resolve(signal)),
  )
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      const [kind, id] = line.split(' ') as [string, string]
      if (kind === 'A') {
        if (acked.size === before) setTimeout(() => child.kill('SIGKILL'), killAfterMs)
        acked.add(id)
      } else if (kind === 'S') {
        sent.add(id)
      }
    }
  })
  const signal = await exited
  assert.equal(signal, 'SIGKILL', `the appending child exited on its own: ${stderr}`)
}

describe('a buffered service logger', () => {
  it('writes every line to the file, in order, and the last ones at exit', async () => {
    const own = mkdtempSync(path.join(os.tmpdir(), 'poc-logger-'))
    const file = path.join(own, 'buffered.log')
    const logger = pathToFileURL(path.join(repoRoot, 'src/services/shared/logger.ts')).href
    // stdout is the file, as under poc up; process.exit right after the last line.
    const script = `
      import {createLogger} from ${JSON.stringify(logger)}
      const log = createLogger('test', 'info', {buffered: true})
      for (let i = 0; i < 2000; i++) log.info({i}, 'line ' + i)
      log.debug('not at info')
      process.exit(0)
    `
    const fd = openSync(file, 'w')
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: repoRoot,
        stdio: ['ignore', fd, 'inherit'],
      })
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
      assert.equal(code, 0)
    } finally {
      closeSync(fd)
    }
    const text = readFileSync(file, 'utf8')
    rmSync(own, {recursive: true, force: true})
    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    assert.equal(lines.length, 2000)
    assert.deepEqual(
      lines.map((line) => line.i),
      Array.from({length: 2000}, (_, i) => i),
    )
    assert.equal(lines[1999].msg, 'line 1999')
  })
})
