/** Summary of one phase's samples: what every bench table prints. */
export interface Summary {
  n: number
  min: number
  avg: number
  max: number
  p50: number
  p95: number
  p99: number
}

/** The q-quantile (0..1) of sorted samples, linearly interpolated between closest ranks. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { n: 0, min: NaN, avg: NaN, max: NaN, p50: NaN, p95: NaN, p99: NaN }
  const sorted = [...samples].sort((a, b) => a - b)
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    n: sorted.length,
    min: sorted[0],
    avg: sum / sorted.length,
    max: sorted[sorted.length - 1],
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99)
  }
}

/** a ÷ b, NaN when either side is missing, so a ratio never pretends. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN
}
