/**
 * Finds stop sequences in streamed text. Text that could still turn into a stop sequence is held
 * back, so the client never sees a stop sequence or a part of one.
 */
export class StopMatcher {
  private readonly stops: string[]
  private buffer = ''

  constructor(stops: string[]) {
    this.stops = stops.filter((s) => s.length > 0)
  }

  /** Returns the text safe to emit and whether a stop sequence ended the output. */
  push(text: string): { emit: string; stopped: boolean } {
    if (this.stops.length === 0) return { emit: text, stopped: false }
    this.buffer += text
    let at = -1
    for (const stop of this.stops) {
      const i = this.buffer.indexOf(stop)
      if (i !== -1 && (at === -1 || i < at)) at = i
    }
    if (at !== -1) {
      const emit = this.buffer.slice(0, at)
      this.buffer = ''
      return { emit, stopped: true }
    }
    const hold = this.longestStopPrefixAtEnd()
    const emit = this.buffer.slice(0, this.buffer.length - hold)
    this.buffer = this.buffer.slice(this.buffer.length - hold)
    return { emit, stopped: false }
  }

  /** What was held back, once generation ended without a stop sequence. */
  flush(): string {
    const rest = this.buffer
    this.buffer = ''
    return rest
  }

  private longestStopPrefixAtEnd(): number {
    let longest = 0
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.buffer.length); n > longest; n--) {
        if (this.buffer.endsWith(stop.slice(0, n))) {
          longest = n
          break
        }
      }
    }
    return longest
  }
}
