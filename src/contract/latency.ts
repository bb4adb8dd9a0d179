import {type Histogram, build, decodeFromCompressedBase64, encodeIntoCompressedBase64} from 'hdr-histogram-js'

/** 1 µs to 60 s at 3 significant digits: every latency the gateway can see, in a few KiB. */
const lowestUs = 1
const highestUs = 60_000_000

/** What the JS implementation (useWebAssembly: false) offers beyond the Histogram interface. */
interface IterableHistogram {
  recordedValuesIterator: {
    reset(): void
    hasNext(): boolean
    next(): {valueIteratedTo: number; countAtValueIteratedTo: number}
  }
  medianEquivalentValue(value: number): number
}

/** A Prometheus histogram's numbers: cumulative counts at each upper bound, their sum and count. */
export interface CumulativeBuckets {
  /** counts[i]: values ≤ bounds[i]. */
  counts: number[]
  sum: number
  count: number
}

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

  /** The mean in µs; 0 before the first value. */
  get mean(): number {
    return this.histogram.totalCount === 0 ? 0 : this.histogram.mean
  }

  /** The value at percentile `p` (0–100) in µs; 0 before the first value. */
  percentile(p: number): number {
    return this.histogram.totalCount === 0 ? 0 : this.histogram.getValueAtPercentile(p)
  }

  /**
   * The distribution as Prometheus buckets, in µs: how many values are at most each bound (in
   * ascending order), and their sum. Read from the HDR buckets at scrape time, so the fast path
   * pays nothing for it; exact below 2048 µs, within HDR's 3 significant digits above.
   */
  cumulative(boundsUs: readonly number[]): CumulativeBuckets {
    const counts = boundsUs.map(() => 0)
    const h = this.histogram as unknown as IterableHistogram
    let sum = 0
    const values = h.recordedValuesIterator
    values.reset()
    while (values.hasNext()) {
      const {valueIteratedTo: value, countAtValueIteratedTo: n} = values.next()
      sum += h.medianEquivalentValue(value) * n
      // The first bound that holds it; every later bound holds it too (added up below).
      const first = boundsUs.findIndex((bound) => value <= bound)
      if (first >= 0) counts[first] = (counts[first] as number) + n
    }
    for (let i = 1; i < counts.length; i++) counts[i] = (counts[i] as number) + (counts[i - 1] as number)
    return {counts, sum, count: this.histogram.totalCount}
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
