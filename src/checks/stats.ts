export interface Percentiles {
  count: number
  p50: number
  p99: number
  max: number
}

/** Nearest-rank percentile of ascending values; NaN for none. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((q / 100) * sorted.length)
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1] as number
}

export function summarize(values: readonly number[], digits = 1): Percentiles {
  const sorted = [...values].sort((a, b) => a - b)
  const round = (n: number) => (Number.isNaN(n) ? n : Number(n.toFixed(digits)))
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? Number.NaN),
  }
}
