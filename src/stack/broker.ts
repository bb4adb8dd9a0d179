import amqp, {type ChannelModel, type ConfirmChannel} from 'amqplib'
import {PocError, errorMessage} from './errors.js'
import type {PocHome} from './home.js'
import {runningComponent} from './running.js'

/** A message as the management API's `get` returns it. */
export interface ManagementMessage {
  payload?: string
  payload_encoding?: 'string' | 'base64'
  properties?: {
    message_id?: string
    headers?: Record<string, unknown>
  }
}

/** A queue as the management API lists it (its counts lag by the statistics interval, about 5 s). */
export interface ManagementQueue {
  name: string
  messages?: number
  consumers?: number
}

export interface Broker {
  queueNames(): Promise<string[]>
  /** Every queue of the default vhost with the management API's (lagging) counts. */
  queues(): Promise<ManagementQueue[]>
  peek(queue: string, count: number): Promise<ManagementMessage[]>
  withChannel<T>(work: (channel: ConfirmChannel) => Promise<T>): Promise<T>
}

const credentials = {username: 'guest', password: 'guest'}
const requestTimeoutMs = 10_000
/** A sampled body longer than this is cut, and its key is not shown. */
const sampleBytes = 64 * 1024

/**
 * The RabbitMQ of the stack in $POC_HOME, or an error saying how to start one. `purpose` names
 * the AMQP connection (`poc <purpose>`), so the management UI shows who holds it.
 */
export async function findBroker(home: PocHome, purpose: string): Promise<Broker> {
  const {host, ports} = await runningComponent(home, 'rabbitmq')
  const managementUrl = `http://${host}:${ports.management}/api`
  const amqpUrl = `amqp://${host}:${ports.amqp}`
  const unreachable = (what: string, error: unknown) =>
    new PocError(`cannot reach RabbitMQ's ${what}: ${errorMessage(error)}`, {
      code: 'broker_unreachable',
      cause: error,
      suggestions: ['See its state with poc status and its log with poc logs rabbitmq; poc up restarts it.'],
    })

  const management = async <T>(
    resource: string,
    init: {method?: string; body?: unknown} = {},
  ): Promise<T> => {
    const url = `${managementUrl}/${resource}`
    let response: Response
    try {
      response = await fetch(url, {
        method: init.method ?? 'GET',
        headers: {
          authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`,
          'content-type': 'application/json',
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.timeout(requestTimeoutMs),
      })
    } catch (error) {
      throw unreachable(`management API at ${managementUrl}`, error)
    }
    if (!response.ok) {
      throw unreachable(
        `management API at ${managementUrl}`,
        new Error(
          `${init.method ?? 'GET'} /${resource} answered ${response.status} ${await response.text()}`,
        ),
      )
    }
    return (await response.json()) as T
  }

  return {
    queueNames: async () =>
      (await management<Array<{name: string}>>('queues/%2F?columns=name')).map((q) => q.name),
    queues: () => management<ManagementQueue[]>('queues/%2F?columns=name,messages,consumers'),
    peek: (queue, count) =>
      management<ManagementMessage[]>(`queues/%2F/${encodeURIComponent(queue)}/get`, {
        method: 'POST',
        // Requeued at once: a look, not a consume.
        body: {count, ackmode: 'ack_requeue_true', encoding: 'auto', truncate: sampleBytes},
      }),
    withChannel: async (work) => {
      let model: ChannelModel
      try {
        model = await amqp.connect(
          {protocol: 'amqp', hostname: host, port: ports.amqp, ...credentials},
          {timeout: requestTimeoutMs, clientProperties: {connection_name: `poc ${purpose}`}},
        )
      } catch (error) {
        throw unreachable(`AMQP port at ${amqpUrl}`, error)
      }
      model.on('error', () => undefined)
      try {
        const channel = await model.createConfirmChannel()
        channel.on('error', () => undefined)
        try {
          return await work(channel)
        } catch (error) {
          // Only what the broker said is reworded; the caller's own errors pass through.
          if (!isBrokerError(error)) throw error
          throw new PocError(`RabbitMQ refused the ${purpose} operation: ${errorMessage(error)}`, {
            code: 'broker_refused',
            cause: error,
            suggestions: [
              'Nothing was lost; run the command again, and see poc logs rabbitmq if it repeats.',
            ],
          })
        } finally {
          // Closing the channel first gets its acks to the broker; a connection close could overtake them.
          await channel.close().catch(() => undefined)
        }
      } finally {
        await model.close().catch(() => undefined)
      }
    },
  }
}

/**
 * amqplib's errors: a channel or connection closed by the broker (a numeric AMQP reply code),
 * one used after closing, or the socket failing (ECONNRESET, EPIPE, …).
 */
function isBrokerError(error: unknown): boolean {
  const {code, name} = (error ?? {}) as {code?: unknown; name?: unknown}
  return (
    typeof code === 'number' ||
    (typeof code === 'string' && /^E[A-Z]+$/.test(code)) ||
    name === 'IllegalOperationError'
  )
}
