import {type Histogram, build, decodeFromCompressedBase64, encodeIntoCompressedBase64} from 'hdr-histogram-js'

/** 1 µs to 60 s at 3 significant digits: every latency the gateway can see, in a few KiB. */
const lowestUs = 1
const highestUs = 60_000_000

/**
 * A latency distribution in microseconds as an HDR histogram (SPEC §4.5, §6.4): constant memory
 * and cost per value whatever the rate, and exact-enough high percentiles — never an array of
 * samples.
 */
export class LatencyHistogram {
  private readonly histogram: Histogram = build({
    lowestDiscernibleValue: lowestUs,
    highestTrackableValue: highestUs,
    numberOfSignificantValueDigits: 3,
    // 32-bit buckets: a few hundred KiB per histogram, and no packed-array lookups on the hot path.
    bitBucketSize: 32,
    useWebAssembly: false,
  })

  record(us: number): void {
    // Values outside the trackable range are clamped rather than lost.
    this.histogram.recordValue(Math.min(Math.max(Math.round(us), lowestUs), highestUs))
  }

  /** The whole distribution, compressed (HdrHistogram's base64 format), for a client to subtract two snapshots. */
  encode(): string {
    return encodeIntoCompressedBase64(this.histogram)
  }

  /** The values recorded between two encoded snapshots of one histogram (later minus earlier). */
  static between(earlier: string, later: string): LatencyHistogram {
    const result = new LatencyHistogram()
    result.histogram.add(decodeFromCompressedBase64(later, 32, false))
    result.histogram.subtract(decodeFromCompressedBase64(earlier, 32, false))
    return result
  }

  /** Forgets every value (an admin reset). */
  reset(): void {
    this.histogram.reset()
  }

  get count(): number {
    return this.histogram.totalCount
  }

  /** The value at percentile `p` (0–100) in µs; 0 before the first value. */
  percentile(p: number): number {
    return this.histogram.totalCount === 0 ? 0 : this.histogram.getValueAtPercentile(p)
  }

  /** p50/p99/p999 in µs; 0 before the first value. */
  percentiles(): {p50: number; p99: number; p999: number} {
    if (this.histogram.totalCount === 0) return {p50: 0, p99: 0, p999: 0}
    return {
      p50: this.histogram.getValueAtPercentile(50),
      p99: this.histogram.getValueAtPercentile(99),
      p999: this.histogram.getValueAtPercentile(99.9),
    }
  }
}
