/*
 * The broker topology every process agrees on (SPEC §3): exchange names, queue names and the
 * headers poc sets on messages. The services declare it (services/shared/bus.ts); poc's own
 * commands (dlq, smoke) address it.
 */

/** The exchanges of SPEC §3. */
export const exchanges = {events: 'events', deadLetter: 'dlx', domain: 'domain'} as const

/** How many times `poc dlq redrive` has moved a message back (set by the redrive). */
export const redrivenHeader = 'x-poc-redriven'

/**
 * A DLQ drill (poc smoke): a message with `x-poc-fail: until-redriven` is dead-lettered by its
 * consumer until it comes back through a redrive.
 */
export const forcedFailureHeader = 'x-poc-fail'

export function shardQueue(shard: number): string {
  return `shard.${shard}`
}

/** A queue's dead letters go to `<queue>.dead` through `dlx`, with that name as routing key. */
export function deadLetterQueue(queue: string): string {
  return `${queue}.dead`
}
