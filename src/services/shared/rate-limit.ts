/**
 * Token buckets by key (a remote address, an account): `perSec` sustained, `burst` at once. The
 * map forgets a key whose bucket has refilled, so a scan from many addresses cannot grow it
 * without bound.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, {tokens: number; at: number}>()
  private lastSweep: number

  constructor(
    readonly perSec: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSec > 0 && Number.isFinite(perSec)) || !(burst >= 1 && Number.isFinite(burst))) {
      throw new RangeError(`a rate limit needs perSec > 0 and burst ≥ 1, got ${perSec}/s burst ${burst}`)
    }
    this.lastSweep = now()
  }

  /** Takes one token for `key`: undefined when allowed, else the seconds to wait (Retry-After). */
  take(key: string): number | undefined {
    const now = this.now()
    this.sweep(now)
    const bucket = this.buckets.get(key) ?? {tokens: this.burst, at: now}
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSec)
    bucket.at = now
    this.buckets.set(key, bucket)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return undefined
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSec))
  }

  private sweep(now: number): void {
    const fullAfterMs = (this.burst / this.perSec) * 1000
    if (now - this.lastSweep < fullAfterMs) return
    this.lastSweep = now
    for (const [key, bucket] of this.buckets) if (now - bucket.at >= fullAfterMs) this.buckets.delete(key)
  }
}
