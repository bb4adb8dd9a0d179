// How our AMQP clients (the services' bus, the gateway's outbox) send what amqplib writes.
import type {ChannelModel} from 'amqplib'

interface AmqplibInternals {
  connection?: {stream?: {cork?: () => void; uncork?: () => void}; muxer?: {_readIncoming?: () => void}}
}

/**
 * amqplib writes every frame (a publish, an ack) to the socket on its own, from a round that runs
 * on setImmediate; corking the socket for that round sends what it wrote together in one writev.
 * Under load that is one write per round instead of one per message, here and in the broker's
 * reads. Left as it is when amqplib's internals are not what this expects.
 */
export function coalesceWrites(model: ChannelModel): boolean {
  const {connection} = model as unknown as AmqplibInternals
  const stream = connection?.stream
  const muxer = connection?.muxer
  const round = muxer?._readIncoming
  if (!stream?.cork || !stream.uncork || !muxer || typeof round !== 'function') return false
  muxer._readIncoming = function (this: unknown) {
    stream.cork?.()
    try {
      round.call(this)
    } finally {
      stream.uncork?.()
    }
  }
  return true
}
