/**
 * An event rate (per second) smoothed as the seed's inflight controller smooths its commit and
 * soft-reject rates: every tick, ewma = (1 − β)·ewma + β·(events since the last tick / seconds
 * since the last tick). Ticks closer than `minTickMs` are skipped, as the seed's are, so a burst of
 * ticks cannot turn a handful of events into a huge instantaneous rate.
 */
export class RateEwma {
  private events = 0
  private lastTickAt: number
  private current = 0

  constructor(
    /** The seed's BACKPRESSURE_INFLIGHT_BETA / _REJECT_BETA default. */
    private readonly beta = 0.2,
    private readonly now: () => number = () => performance.now(),
    private readonly minTickMs = 50,
  ) {
    this.lastTickAt = now()
  }

  add(n = 1): void {
    this.events += n
  }

  tick(): void {
    const at = this.now()
    const elapsedMs = at - this.lastTickAt
    if (elapsedMs < this.minTickMs) return
    const instant = this.events / (elapsedMs / 1000)
    this.current = (1 - this.beta) * this.current + this.beta * instant
    this.events = 0
    this.lastTickAt = at
  }

  /** Events per second, smoothed; 0 until the first tick after an event. */
  get value(): number {
    return this.current
  }

  reset(): void {
    this.events = 0
    this.current = 0
    this.lastTickAt = this.now()
  }
}

/** The seed's tick (BACKPRESSURE_INFLIGHT_TICK_MS). */
export const ewmaTickMs = 250
