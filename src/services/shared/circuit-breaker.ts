export type CircuitState = 'closed' | 'open' | 'half-open'

export interface CircuitBreakerOptions {
  /** Names the guarded dependency in errors and logs, e.g. "pm". */
  name: string
  /** Consecutive failures that open the circuit (seed 001: 3). */
  failureThreshold?: number
  /** How long it stays open before one probe call may try again (seed 001: 60 s). */
  openMs?: number
  now?: () => number
  onStateChange?: (state: CircuitState, previous: CircuitState) => void
}

export class CircuitOpenError extends Error {
  constructor(
    readonly dependency: string,
    readonly retryInMs: number,
  ) {
    super(
      `the circuit to ${dependency} is open after repeated failures; next try in ${Math.ceil(retryInMs / 1000)} s`,
    )
    this.name = 'CircuitOpenError'
  }
}

/**
 * Guards calls to another service (SPEC §3, seed 001): after `failureThreshold` consecutive
 * failures calls fail fast for `openMs`; then one probe is let through (half-open), whose
 * success closes the circuit and whose failure opens it again. A dependency that is down is
 * then asked once a minute instead of on every request.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed'
  private failures = 0
  private openedAt = 0
  private probing = false
  private readonly failureThreshold: number
  private readonly openMs: number
  private readonly now: () => number

  constructor(private readonly options: CircuitBreakerOptions) {
    this.failureThreshold = options.failureThreshold ?? 3
    this.openMs = options.openMs ?? 60_000
    this.now = options.now ?? Date.now
  }

  get state(): CircuitState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.openMs) return 'half-open'
    return this.current
  }

  async call<T>(work: () => Promise<T>): Promise<T> {
    const state = this.state
    if (state === 'open' || (state === 'half-open' && this.probing)) {
      throw new CircuitOpenError(this.options.name, Math.max(this.openedAt + this.openMs - this.now(), 0))
    }
    const probe = state === 'half-open'
    if (probe) {
      this.probing = true
      this.move('half-open')
    }
    try {
      const result = await work()
      this.failures = 0
      this.move('closed')
      return result
    } catch (error) {
      this.failures++
      if (probe || this.failures >= this.failureThreshold) {
        this.openedAt = this.now()
        this.move('open')
      }
      throw error
    } finally {
      if (probe) this.probing = false
    }
  }

  private move(next: CircuitState): void {
    const previous = this.current
    this.current = next
    if (previous !== next) this.options.onStateChange?.(next, previous)
  }
}
