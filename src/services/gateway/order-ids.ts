import {readFile} from 'node:fs/promises'
import {writeFileAtomic} from '../../lib/atomic-file.js'

/*
 * Order ids handed out are never handed out again, even when the gateway is killed before the
 * order's WAL record reaches the disk (its 202 is already on the wire). Replaying the WAL only
 * knows the durable orders, so the numbering cannot come from the WAL alone: ids are reserved on
 * disk in blocks, and a restart starts after the last reserved block. A crash skips at most one
 * block of numbers; it never repeats one.
 *
 * File format (`<DATA_DIR>/order-ids.json`): {"reservedThrough": N}, replaced atomically.
 */

export const DEFAULT_ID_BLOCK = 100_000

export class OrderIdReservation {
  private writing: Promise<void> | undefined
  private failure: Error | undefined
  private failedAt = 0

  private constructor(
    readonly file: string,
    readonly block: number,
    private through: number,
  ) {}

  /** Reads the reservation (none yet: 0). A file that is not ours is an error, not a restart at 1. */
  static async open(file: string, block: number): Promise<OrderIdReservation> {
    let through = 0
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as {reservedThrough?: unknown}
      if (!Number.isSafeInteger(parsed.reservedThrough) || (parsed.reservedThrough as number) < 0) {
        throw new Error('reservedThrough is not a whole number')
      }
      through = parsed.reservedThrough as number
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(
          `the order id reservation ${file} is unreadable (${(error as Error).message}); ` +
            'restore it, or remove it only together with the WAL (poc reset --gateway)',
        )
      }
    }
    return new OrderIdReservation(file, block, through)
  }

  /** Every number up to this one may have been handed out. */
  get reservedThrough(): number {
    return this.through
  }

  /** The last reservation write failed: no new block can be taken. */
  get lastError(): Error | undefined {
    return this.failure
  }

  /** Reserves up to `through` (durably) before returning; one write at a time. */
  async reserve(through: number): Promise<void> {
    while (this.writing) await this.writing
    if (through <= this.through) return
    this.writing = writeFileAtomic(this.file, `${JSON.stringify({reservedThrough: through})}\n`)
      .then(
        () => {
          this.through = through
          this.failure = undefined
        },
        (error: Error) => {
          this.failure = error
          this.failedAt = Date.now()
          throw error
        },
      )
      .finally(() => {
        this.writing = undefined
      })
    await this.writing
  }

  /**
   * Called as ids are used: once less than half a block is left, the next block is reserved in
   * the background, so the fast path never waits for this disk write. `onError` is for logging.
   */
  topUp(nextId: number, done: {reserved: (through: number) => void; failed: (error: Error) => void}): void {
    if (this.writing || this.through - nextId >= this.block / 2) return
    // A failing disk is retried once a second, not on every order.
    if (this.failure && Date.now() - this.failedAt < 1000) return
    this.reserve(nextId + this.block).then(() => done.reserved(this.through), done.failed)
  }
}
