/** Every quantile is within 1% of a value that was observed, while no bucket has been collapsed. */
export const RELATIVE_ACCURACY = 0.01
/** 2048 buckets span a ratio of e^40 (about 1e17) between the smallest and largest value. */
export const MAX_BUCKETS = 2048
// Below this a value counts as zero: 1e-9 ms is a femtosecond, 1e-9 bytes is nothing.
const MIN_INDEXABLE = 1e-9

const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
const LOG_GAMMA = Math.log(GAMMA)

/**
 * Quantiles in bounded memory: a DDSketch-style histogram whose bucket i holds values in
 * (γ^(i−1), γ^i], γ = (1+α)/(1−α). Count, sum, min, max and last are exact. When the values
 * span more than MAX_BUCKETS buckets the lowest ones are merged, so only the low quantiles of
 * such a stream lose accuracy. Negative values count as 0 (a duration or a size is never below
 * zero; a negative one is clock skew); NaN and ±Infinity are ignored.
 */
export class QuantileSketch {
  count = 0
  sum = 0
  min = 0
  max = 0
  last = 0
  private zeroCount = 0
  private buckets: number[] = []
  /** Bucket index of buckets[0]. */
  private offset = 0
  private readonly maxBuckets: number

  constructor(maxBuckets = MAX_BUCKETS) {
    this.maxBuckets = maxBuckets
  }

  /** Buckets in use (zero bucket aside): the sketch's memory, never above maxBuckets. */
  get bucketCount(): number {
    return this.buckets.length
  }

  add(value: number): void {
    if (!Number.isFinite(value)) return
    const v = value > 0 ? value : 0
    if (this.count === 0 || v < this.min) this.min = v
    if (this.count === 0 || v > this.max) this.max = v
    this.count++
    this.sum += v
    this.last = v
    if (v < MIN_INDEXABLE) this.zeroCount++
    else this.addToBucket(Math.ceil(Math.log(v) / LOG_GAMMA))
  }

  /**
   * The value at quantile q (0..1) by nearest rank (the ⌈q·n⌉-th smallest, so p99 of two calls is
   * the slower one), as the midpoint of its bucket clamped to [min, max]; exact at the ends.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0
    const rank = Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1))
    if (rank === 0) return this.min
    if (rank === this.count - 1) return this.max
    let seen = this.zeroCount
    if (seen > rank) return this.min
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]
      if (seen > rank) {
        const estimate = (2 * GAMMA ** (this.offset + i)) / (GAMMA + 1)
        return Math.min(this.max, Math.max(this.min, estimate))
      }
    }
    return this.max
  }

  private addToBucket(index: number): void {
    if (this.buckets.length === 0) {
      this.buckets.push(1)
      this.offset = index
      return
    }
    const top = this.offset + this.buckets.length - 1
    if (index > top) {
      this.collapseBelow(index - this.maxBuckets + 1)
      while (this.offset + this.buckets.length <= index) this.buckets.push(0)
      this.buckets[index - this.offset]++
    } else if (index >= this.offset) {
      this.buckets[index - this.offset]++
    } else {
      // Below the window: grow it downwards as far as the bound allows, then land in its lowest bucket.
      const lowest = Math.max(index, top - this.maxBuckets + 1)
      if (lowest < this.offset) {
        this.buckets = new Array<number>(this.offset - lowest).fill(0).concat(this.buckets)
        this.offset = lowest
      }
      this.buckets[0]++
    }
  }

  /** Merges every bucket below `index` into the bucket `index`, which becomes the lowest. */
  private collapseBelow(index: number): void {
    const drop = index - this.offset
    if (drop <= 0) return
    if (drop >= this.buckets.length) {
      this.buckets = [sum(this.buckets)]
    } else {
      const merged = sum(this.buckets.splice(0, drop))
      this.buckets[0] += merged
    }
    this.offset = index
  }
}

function sum(values: number[]): number {
  let total = 0
  for (const v of values) total += v
  return total
}
