/** One measured token stream, whoever served it. */
export interface StreamSample {
  /** From the request to the first token at the reader. */
  ttftMs: number
  /** Per token after the first: a chunk of k tokens arriving g ms after the previous one counts k × g/k. */
  itlMs: number[]
  /** Gaps between chunks as the reader saw them. */
  chunkGapMs: number[]
  tokens: number
  /** Tokens after the first ÷ time from the first to the last. */
  tokensPerSecond: number
  totalMs: number
}

/** Times a stream from the reader's side: call `chunk(k)` as each chunk of k tokens arrives. */
export class StreamTimer {
  private readonly start = performance.now()
  private first = 0
  private last = 0
  private firstTokens = 0
  private tokens = 0
  private readonly itl: number[] = []
  private readonly gaps: number[] = []

  chunk(tokens: number): void {
    if (tokens === 0) return
    const now = performance.now()
    if (this.tokens === 0) {
      this.first = now
      this.firstTokens = tokens
    } else {
      const gap = now - this.last
      this.gaps.push(gap)
      for (let i = 0; i < tokens; i++) this.itl.push(gap / tokens)
    }
    this.last = now
    this.tokens += tokens
  }

  finish(): StreamSample {
    const end = performance.now()
    const after = this.tokens - this.firstTokens
    return {
      ttftMs: this.tokens > 0 ? this.first - this.start : NaN,
      itlMs: this.itl,
      chunkGapMs: this.gaps,
      tokens: this.tokens,
      tokensPerSecond: after > 0 && this.last > this.first ? (after * 1000) / (this.last - this.first) : NaN,
      totalMs: end - this.start
    }
  }
}
