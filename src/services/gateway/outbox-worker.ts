import {type MessagePort, parentPort, workerData} from 'node:worker_threads'
import {createLogger} from '../shared/logger.js'
import {WalOutbox, type WalOutboxStatus} from './outbox.js'

/*
 * The outbox's thread (started by Wal.open in wal.ts when asked for an outbox): reading the
 * durable WAL, publishing with confirms and saving the offset cost the event loop ~15 µs an
 * order, and on the WAL's own thread they delayed its group commits. The WAL's thread tells
 * this one the durable size after each commit, through `durable`.
 */

/** What the outbox needs beyond the WAL (see WalOutboxOptions); the logger is the thread's own. */
export interface OutboxThreadOptions {
  amqpUrl: string
  offsetFile: string
  backoffBaseMs: number
  backoffMaxMs: number
  logLevel?: string
}

export interface OutboxWorkerData extends OutboxThreadOptions {
  walFile: string
  durableBytes: number
  /** Receives the WAL's durable size (a number) after each group commit. */
  durable: MessagePort
}

export type FromOutboxWorker =
  | {kind: 'ready'}
  | {kind: 'open_failed'; message: string}
  | {kind: 'status'; status: WalOutboxStatus}
  | {kind: 'closed'}

const port = parentPort
if (!port) throw new Error('outbox-worker.js runs as a worker thread of the gateway (Wal.open starts it)')
const data = workerData as OutboxWorkerData
const post = (message: FromOutboxWorker) => port.postMessage(message)

let durableBytes = data.durableBytes
const outbox = new WalOutbox({
  amqpUrl: data.amqpUrl,
  walFile: data.walFile,
  durableBytes: () => durableBytes,
  offsetFile: data.offsetFile,
  logger: createLogger('gateway', data.logLevel),
  backoffBaseMs: data.backoffBaseMs,
  backoffMaxMs: data.backoffMaxMs,
})
try {
  await outbox.start()
} catch (error) {
  post({kind: 'open_failed', message: (error as Error).message})
  port.close()
  throw error
}
data.durable.on('message', (bytes: number) => {
  durableBytes = bytes
  outbox.wake()
})

let last = ''
const report = () => {
  const status = outbox.status()
  const text = JSON.stringify(status)
  if (text !== last) post({kind: 'status', status})
  last = text
}
report()
// /health, /stats and the metrics read a copy at most this old.
const statusTimer = setInterval(report, 100)
statusTimer.unref()
post({kind: 'ready'})

port.on('message', () => {
  // The only message is close; the WAL's thread has made everything durable and stopped.
  clearInterval(statusTimer)
  data.durable.close()
  void outbox.close().then(() => {
    post({kind: 'status', status: outbox.status()})
    post({kind: 'closed'})
    port.close()
  })
})
