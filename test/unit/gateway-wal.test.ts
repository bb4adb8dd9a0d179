import assert from 'node:assert/strict'
import {createHmac, createSecretKey} from 'node:crypto'
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {GENESIS_HASH, Wal, type WalFlush, type WalOptions} from '../../src/services/gateway/wal.js'
import {WalGroupWriter, WalWriteError, chainLine} from '../../src/services/gateway/wal-writer.js'
import {makeHome} from '../helpers.js'

const dir = makeHome('gateway-wal')
let files = 0
const freshFile = () => path.join(dir, `case-${++files}`, 'wal', 'orders.wal.jsonl')
const hmacKey = 'test-audit-key'

function fileLines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').slice(0, -1)
}

function replaceLine(file: string, index: number, edit: (line: string) => string | null): void {
  const lines = fileLines(file)
  const edited = edit(lines[index]!)
  if (edited === null) lines.splice(index, 1)
  else lines[index] = edited
  writeFileSync(file, lines.map((line) => `${line}\n`).join(''))
}

/** A log with `count` durable order records (qty = seq), left open. */
async function filledWal(count: number, options: Partial<WalOptions> = {}): Promise<Wal> {
  const wal = await Wal.open(freshFile(), {hmacKey, ...options})
  const appends = []
  for (let i = 1; i <= count; i++) appends.push(wal.append('order_accepted', {orderId: `O-${i}`, qty: i}))
  await Promise.all(appends.map((a) => wal.whenDurable(a.seq)))
  return wal
}

describe('gateway WAL', () => {
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('makes concurrent appends durable in seq order with far fewer fdatasyncs than records', async () => {
    const flushes: WalFlush[] = []
    const file = freshFile()
    const wal = await Wal.open(file, {hmacKey, onFlush: (flush) => flushes.push(flush)})
    const producers = Array.from({length: 20}, async (_, producer) => {
      const results = []
      for (let i = 0; i < 50; i++) {
        results.push(wal.append('order_accepted', {producer, i, qty: 1}))
        if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve))
      }
      return Promise.all(results.map(async (r) => ({seq: r.seq, durable: await wal.whenDurable(r.seq)})))
    })
    const results = (await Promise.all(producers)).flat()

    assert.equal(results.length, 1000)
    for (const {seq, durable} of results) assert.equal(durable.seq, seq)
    assert.deepEqual(
      results.map((r) => r.seq).sort((a, b) => a - b),
      Array.from({length: 1000}, (_, i) => i + 1),
    )
    const onDisk = fileLines(file).map((line) => JSON.parse(line) as {seq: number})
    assert.deepEqual(
      onDisk.map((r) => r.seq),
      Array.from({length: 1000}, (_, i) => i + 1),
    )
    assert.equal(
      flushes.reduce((sum, f) => sum + f.records, 0),
      1000,
    )
    assert.ok(flushes.length <= 100, `${flushes.length} fdatasyncs for 1000 records`)
    assert.equal(wal.stats().flushes, flushes.length)
    assert.equal(wal.sizeBytes, statSync(file).size)
    assert.equal(
      flushes.reduce((sum, f) => sum + f.bytes, 0),
      statSync(file).size,
    )
    assert.equal(wal.pendingRecords, 0)
    assert.equal(wal.pendingBytes, 0)
    assert.equal(wal.oldestPendingAgeMs(), 0)
    assert.equal(wal.anchor().seq, 1000)
    assert.deepEqual(await wal.verify(), {ok: true, checked: 1000, lastSeq: 1000, error: null})
    await wal.close()
  })

  it('holds a batch until maxBatch records or maxWaitUs, whichever comes first', async () => {
    const flushes: WalFlush[] = []
    const wal = await Wal.open(freshFile(), {
      hmacKey,
      maxWaitUs: 60_000_000,
      maxBatch: 3,
      onFlush: (flush) => flushes.push(flush),
    })
    const first = wal.append('order_accepted', {qty: 1})
    wal.append('order_accepted', {qty: 2})
    await sleep(30)
    assert.equal(flushes.length, 0)
    assert.equal(wal.pendingRecords, 2)
    assert.ok(wal.pendingBytes > 0)
    assert.ok(wal.oldestPendingAgeMs() >= 25)
    const third = wal.append('order_accepted', {qty: 3})
    assert.deepEqual((await wal.whenDurable(third.seq)).seq, 3)
    assert.ok((await wal.whenDurable(first.seq)).durableAt >= first.enqueuedAt)
    assert.deepEqual(
      flushes.map((f) => f.records),
      [3],
    )
    await wal.close()

    const timed = await Wal.open(freshFile(), {hmacKey, maxWaitUs: 20_000, maxBatch: 1000})
    assert.equal((await timed.whenDurable(timed.append('order_accepted', {qty: 1}).seq)).seq, 1)
    await timed.close()
  })

  it('replays the records on reopen and continues the seq and the chain', async () => {
    const file = freshFile()
    const wal = await Wal.open(file, {hmacKey})
    for (let i = 1; i <= 10; i++)
      wal.append(i % 2 ? 'order_accepted' : 'cancel_requested', {orderId: `O-${i}`})
    await wal.whenDurable(wal.append('order_accepted', {orderId: 'O-11'}).seq)
    const anchor = wal.anchor()
    await wal.close()
    assert.equal(anchor.seq, 11)

    const reopened = await Wal.open(file, {hmacKey})
    const records = reopened.records()
    assert.equal(records.length, 11)
    assert.deepEqual(records[1], {...records[1], seq: 2, type: 'cancel_requested', data: {orderId: 'O-2'}})
    assert.equal(records[0]!.prev, GENESIS_HASH)
    assert.deepEqual(reopened.anchor(), anchor)
    const next = reopened.append('order_accepted', {orderId: 'O-12'})
    assert.equal(next.seq, 12)
    await reopened.whenDurable(next.seq)
    const last = JSON.parse(fileLines(file).at(-1)!) as {seq: number; prev: string}
    assert.equal(last.prev, anchor.hash)
    assert.deepEqual(await reopened.verify(), {ok: true, checked: 12, lastSeq: 12, error: null})
    await reopened.close()
  })

  it('hashes HMAC-SHA256(key, prev ‖ the line without its hash field), so another key fails', async () => {
    const wal = await filledWal(2)
    await wal.close()
    const [line] = fileLines(wal.file)
    const match =
      /^(\{"seq":1,"at":"[^"]+","type":"order_accepted","data":\{.*\},"prev":"0{64}")(,"hash":"([0-9a-f]{64})"\})$/.exec(
        line!,
      )
    assert.ok(match, line)
    const expected = createHmac('sha256', hmacKey).update(GENESIS_HASH).update(`${match[1]}}`).digest('hex')
    assert.equal(match[3], expected)

    const other = await Wal.open(wal.file, {hmacKey: 'another-key'})
    assert.deepEqual((await other.verify()).error, {
      seq: 1,
      reason: 'hash mismatch',
      detail: 'hash mismatch: the line is not what was written',
    })
    await other.close()
  })

  it('fails verification at the seq of an edited line, reading the file and not memory', async () => {
    const wal = await filledWal(10)
    replaceLine(wal.file, 5, (line) => line.replace('"qty":6', '"qty":7'))
    const result = await wal.verify()
    assert.equal(result.ok, false)
    assert.equal(result.lastSeq, 5)
    assert.equal(result.checked, 5)
    assert.deepEqual(result.error && {seq: result.error.seq, reason: result.error.reason}, {
      seq: 6,
      reason: 'hash mismatch',
    })
    await wal.close()

    const reopened = await Wal.open(wal.file, {hmacKey})
    assert.equal(reopened.records().length, 10)
    assert.equal((await reopened.verify()).error?.seq, 6)
    await reopened.close()
  })

  it('fails verification at the gap where a line was deleted', async () => {
    const wal = await filledWal(10)
    replaceLine(wal.file, 3, () => null)
    const {ok, lastSeq, error} = await wal.verify()
    assert.equal(ok, false)
    assert.equal(lastSeq, 3)
    assert.deepEqual(error, {seq: 4, reason: 'seq gap', detail: 'seq gap: expected seq 4, found 5'})
    await wal.close()
  })

  it('reports a rewritten prev link and an unparsable middle line without dropping it on open', async () => {
    const wal = await filledWal(6)
    replaceLine(wal.file, 2, (line) => line.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${'f'.repeat(64)}"`))
    assert.deepEqual((await wal.verify()).error?.reason, 'prev mismatch')
    replaceLine(wal.file, 2, () => '{"seq":3,"at":')
    await wal.close()

    const warnings: string[] = []
    const reopened = await Wal.open(wal.file, {hmacKey, onWarning: (message) => warnings.push(message)})
    assert.deepEqual(warnings, [])
    assert.deepEqual(
      reopened.records().map((r) => r.seq),
      [1, 2, 4, 5, 6],
    )
    assert.equal(fileLines(wal.file).length, 6)
    assert.equal(reopened.append('order_accepted', {qty: 7}).seq, 7)
    const {error} = await reopened.verify()
    assert.deepEqual(error && {seq: error.seq, reason: error.reason}, {seq: 3, reason: 'unparsable'})
    await reopened.close()
  })

  it('cuts off a torn last line on open, with a warning, and continues after the last record', async () => {
    const wal = await filledWal(5)
    await wal.close()
    const intact = statSync(wal.file).size
    const sixth = fileLines(wal.file)[4]!.replace('"seq":5', '"seq":6')
    appendFileSync(wal.file, sixth.slice(0, 40))

    const warnings: string[] = []
    const reopened = await Wal.open(wal.file, {hmacKey, onWarning: (message) => warnings.push(message)})
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, /1 torn line\(s\) \(40 bytes\)/)
    assert.equal(statSync(wal.file).size, intact)
    assert.equal(reopened.sizeBytes, intact)
    assert.equal(reopened.records().length, 5)
    assert.deepEqual(await reopened.verify(), {ok: true, checked: 5, lastSeq: 5, error: null})
    const next = reopened.append('order_accepted', {qty: 6})
    assert.equal(next.seq, 6)
    await reopened.whenDurable(next.seq)
    assert.deepEqual(await reopened.verify(), {ok: true, checked: 6, lastSeq: 6, error: null})
    await reopened.close()

    appendFileSync(wal.file, 'not json\n')
    const again = await Wal.open(wal.file, {hmacKey, onWarning: (message) => warnings.push(message)})
    assert.equal(warnings.length, 2)
    assert.equal(again.records().length, 6)
    assert.deepEqual((await again.verify()).ok, true)
    await again.close()
  })

  it('verifies a range given by fromSeq and limit against the chain from genesis', async () => {
    const wal = await filledWal(20)
    assert.deepEqual(await wal.verify({fromSeq: 5, limit: 10}), {
      ok: true,
      checked: 10,
      lastSeq: 14,
      error: null,
    })
    assert.deepEqual(await wal.verify({fromSeq: 15}), {ok: true, checked: 6, lastSeq: 20, error: null})
    assert.deepEqual(await wal.verify({limit: 3}), {ok: true, checked: 3, lastSeq: 3, error: null})
    assert.deepEqual(await wal.verify({fromSeq: 30}), {ok: true, checked: 0, lastSeq: 20, error: null})
    await assert.rejects(wal.verify({fromSeq: 0}), RangeError)
    await assert.rejects(wal.verify({limit: 0}), RangeError)

    replaceLine(wal.file, 16, (line) => line.replace('"qty":17', '"qty":1'))
    assert.deepEqual(await wal.verify({fromSeq: 5, limit: 10}), {
      ok: true,
      checked: 10,
      lastSeq: 14,
      error: null,
    })
    assert.equal((await wal.verify({fromSeq: 15})).error?.seq, 17)

    replaceLine(wal.file, 2, (line) => line.replace('"qty":3', '"qty":4'))
    const before = await wal.verify({fromSeq: 10, limit: 5})
    assert.equal(before.ok, false)
    assert.equal(before.checked, 0)
    assert.equal(before.error?.seq, 3)
    await wal.close()
  })

  it('fails verification when the file lost records that were made durable', async () => {
    const wal = await filledWal(8)
    const lines = fileLines(wal.file)
    truncateSync(wal.file, lines.slice(0, 6).join('\n').length + 1 + 10)
    const {ok, lastSeq, error} = await wal.verify()
    assert.equal(ok, false)
    assert.equal(lastSeq, 6)
    assert.deepEqual(error && {seq: error.seq, reason: error.reason}, {seq: 7, reason: 'missing records'})
    assert.equal((await wal.verify({limit: 6})).ok, true)
    await wal.close()
  })

  it('makes buffered records durable on close and refuses appends after it', async () => {
    const file = freshFile()
    const wal = await Wal.open(file, {hmacKey, maxWaitUs: 60_000_000})
    const pending = [1, 2, 3].map((qty) => wal.append('order_accepted', {qty}))
    await wal.close()
    assert.deepEqual(
      await Promise.all(pending.map(async (p) => (await wal.whenDurable(p.seq)).seq)),
      [1, 2, 3],
    )
    assert.equal(fileLines(file).length, 3)
    assert.throws(() => wal.append('order_accepted', {qty: 4}), /closed/)
  })

  it('refuses data that is not JSON without using up a seq', async () => {
    const wal = await Wal.open(freshFile(), {hmacKey})
    assert.throws(() => wal.append('order_accepted', undefined), TypeError)
    assert.throws(() => wal.append('order_accepted', {qty: 1n}), TypeError)
    assert.equal(wal.append('order_accepted', {qty: 1}).seq, 1)
    await wal.close()
    await assert.rejects(Wal.open(freshFile(), {hmacKey: ''}), /non-empty HMAC key/)
  })

  it(
    'rejects the durable promises of a batch whose write fails and stops',
    {skip: !existsSync('/dev/full')},
    async () => {
      // Writes to /dev/full fail with ENOSPC, even for root.
      const flushes: WalFlush[] = []
      const wal = await Wal.open('/dev/full', {hmacKey, onFlush: (flush) => flushes.push(flush)})
      const before = wal.lastError
      assert.equal(before, null)
      const first = wal.append('order_accepted', {qty: 1})
      // Never awaited: a failure must not surface as an unhandled rejection.
      wal.append('order_accepted', {qty: 2})
      await assert.rejects(
        wal.whenDurable(first.seq),
        /cannot write the WAL \/dev\/full \(seq 1-2\): .*ENOSPC/,
      )
      assert.match(wal.lastError?.message ?? '', /ENOSPC/)
      assert.deepEqual(flushes, [])
      assert.equal(wal.pendingRecords, 0)
      assert.deepEqual(wal.anchor(), {seq: 0, hash: GENESIS_HASH, at: null, records: 0})
      assert.throws(() => wal.append('order_accepted', {qty: 3}), /stopped after a failed write/)
      await wal.close()
    },
  )

  describe("the WAL thread's writer", () => {
    const key = createSecretKey(Buffer.from(hmacKey))
    /** The line as the WAL wrote it before its thread: the body with prev, hashed, then the hash spliced in. */
    const formerLine = (prev: string, seq: number, at: string, data: unknown) => {
      const body = `{"seq":${seq},"at":"${at}","type":"order_accepted","data":${JSON.stringify(data)},"prev":"${prev}"}`
      const hash = createHmac('sha256', hmacKey).update(prev).update(body).digest('hex')
      return {line: `${body.slice(0, -1)},"hash":"${hash}"}\n`, hash}
    }

    it('writes the same bytes as the format before the thread, and a Wal replays and verifies them', async () => {
      const file = freshFile()
      const at = '2026-12-01T00:00:00.000Z'
      const data = [{orderId: 'O-1', note: 'ünïcode'}, {orderId: 'O-2'}, {orderId: 'O-3'}]
      const heads = data.map(
        (d, i) => `{"seq":${i + 1},"at":"${at}","type":"order_accepted","data":${JSON.stringify(d)}`,
      )
      let prev = GENESIS_HASH
      let expected = ''
      for (const [i, d] of data.entries()) {
        const former = formerLine(prev, i + 1, at, d)
        assert.deepEqual(chainLine(key, prev, heads[i]!), former)
        expected += former.line
        prev = former.hash
      }
      mkdirSync(path.dirname(file), {recursive: true})
      const fd = openSync(file, 'a')
      const writer = new WalGroupWriter(fd, key, GENESIS_HASH, 0, 0)
      writer.add(1, heads.slice(0, 2))
      writer.add(3, heads.slice(2))
      assert.throws(() => writer.add(5, heads.slice(0, 1)), /out of order: seq 5 after seq 3/)
      assert.equal(writer.buffered, 3)
      const commit = writer.commit()
      closeSync(fd)
      assert.equal(commit?.records, 3)
      assert.equal(commit?.lastSeq, 3)
      assert.equal(commit?.lastHash, prev)
      assert.equal(commit?.bytes, Buffer.byteLength(expected))
      assert.equal(writer.durableBytes, Buffer.byteLength(expected))
      assert.equal(writer.commit(), undefined, 'nothing buffered, nothing written')
      assert.equal(readFileSync(file, 'utf8'), expected)

      const wal = await Wal.open(file, {hmacKey})
      assert.deepEqual(
        wal.records().map((r) => r.data),
        data,
      )
      assert.deepEqual(await wal.verify(), {ok: true, checked: 3, lastSeq: 3, error: null})
      assert.equal(wal.append('order_accepted', {orderId: 'O-4'}).seq, 4)
      await wal.close()
      const reopened = await Wal.open(file, {hmacKey})
      assert.deepEqual(await reopened.verify(), {ok: true, checked: 4, lastSeq: 4, error: null})
      await reopened.close()
    })

    it('stops after a failed write and says which seqs it lost', {skip: !existsSync('/dev/full')}, () => {
      const fd = openSync('/dev/full', 'a')
      const writer = new WalGroupWriter(fd, key, GENESIS_HASH, 0, 0)
      writer.add(1, ['{"seq":1,"at":"x","type":"t","data":{}', '{"seq":2,"at":"x","type":"t","data":{}'])
      assert.throws(
        () => writer.commit(),
        (error: unknown) =>
          error instanceof WalWriteError &&
          error.firstSeq === 1 &&
          error.lastSeq === 2 &&
          /ENOSPC/.test(error.message),
      )
      writer.add(3, ['{"seq":3,"at":"x","type":"t","data":{}'])
      assert.equal(writer.commit(), undefined)
      closeSync(fd)
    })
  })
})
