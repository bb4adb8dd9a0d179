import {closeSync, openSync} from 'node:fs'
import {createSecretKey} from 'node:crypto'
import {performance} from 'node:perf_hooks'
import {parentPort, workerData} from 'node:worker_threads'
import type {MessagePort} from 'node:worker_threads'
import {type WalCommit, WalGroupWriter, WalWriteError} from './wal-writer.js'

/*
 * The WAL's thread (started by Wal.open in wal.ts): the group commit — chaining, HMAC, write,
 * fdatasync — and nothing else, so a commit starts as soon as records arrive. The event loop
 * that answers orders only formats each record and posts the lines of one turn in one message;
 * seq numbers are assigned there, so the order of the log is the order of accepts. The outbox,
 * if any, runs on a thread of its own (outbox-worker.ts), told of each commit through `durable`.
 */

export interface WalWorkerData {
  file: string
  key: Uint8Array
  prevHash: string
  lastSeq: number
  durableBytes: number
  maxWaitUs: number
  maxBatch: number
  /** Told the durable size after each commit (the outbox thread's port). */
  durable?: MessagePort
}

export type ToWalWorker =
  | {
      kind: 'append'
      firstSeq: number
      heads: string[]
      /** performance.timeOrigin + performance.now() of the first record's append. */
      enqueuedAt: number
    }
  | {kind: 'close'}

export type FromWalWorker =
  | {kind: 'ready'}
  | {kind: 'open_failed'; message: string}
  | ({kind: 'flushed'} & WalCommit)
  | {kind: 'failed'; firstSeq: number; lastSeq: number; message: string}
  | {kind: 'closed'}

const port = parentPort
if (!port) throw new Error('wal-worker.js runs as a worker thread of the gateway (Wal.open starts it)')
const data = workerData as WalWorkerData
const post = (message: FromWalWorker) => port.postMessage(message)
const epochNow = () => performance.timeOrigin + performance.now()

let writer: WalGroupWriter
let fd: number
try {
  fd = openSync(data.file, 'a')
  writer = new WalGroupWriter(
    fd,
    createSecretKey(Buffer.from(data.key)),
    data.prevHash,
    data.lastSeq,
    data.durableBytes,
  )
  post({kind: 'ready'})
} catch (error) {
  post({kind: 'open_failed', message: (error as Error).message})
  port.close()
  throw error
}

/** performance.timeOrigin-based time of the oldest buffered record's append. */
let oldestAt = 0
let failed = false
let timer: NodeJS.Timeout | undefined
let immediate: NodeJS.Immediate | undefined

function clearSchedule(): void {
  if (timer) clearTimeout(timer)
  if (immediate) clearImmediate(immediate)
  timer = undefined
  immediate = undefined
}

/**
 * The same rule as before the thread: a commit starts once maxBatch records wait or the oldest
 * has waited maxWaitUs. "Now" means at the end of this turn, so every message already delivered
 * (what arrived during the last fdatasync) joins the commit instead of splitting it.
 */
function schedule(): void {
  if (writer.buffered === 0 || immediate) return
  const remainingUs = data.maxWaitUs - (epochNow() - oldestAt) * 1000
  if (writer.buffered >= data.maxBatch || remainingUs < 1000) {
    if (timer) clearTimeout(timer)
    timer = undefined
    immediate = setImmediate(commit)
  } else if (!timer) {
    timer = setTimeout(commit, remainingUs / 1000)
  }
}

function commit(): void {
  clearSchedule()
  if (failed) return
  try {
    const done = writer.commit()
    if (!done) return
    post({kind: 'flushed', ...done})
    data.durable?.postMessage(writer.durableBytes)
  } catch (error) {
    if (!(error instanceof WalWriteError)) throw error
    failed = true
    post({kind: 'failed', firstSeq: error.firstSeq, lastSeq: error.lastSeq, message: error.message})
  }
}

port.on('message', (message: ToWalWorker) => {
  if (message.kind === 'append') {
    if (failed) return
    if (writer.buffered === 0) oldestAt = message.enqueuedAt
    writer.add(message.firstSeq, message.heads)
    schedule()
    return
  }
  // close: what was appended becomes durable (or failed) first.
  commit()
  closeSync(fd)
  data.durable?.close()
  post({kind: 'closed'})
  port.close()
})
