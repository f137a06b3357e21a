import c from 'compact-encoding'
import type ProtomuxRPC from 'protomux-rpc'
import { streamChunk, type StreamStatus } from '../../shared/messages.ts'

export interface OutboundStreamOptions {
  rpc: ProtomuxRPC
  streamId: number
  modelId: string
  peer: Buffer | null
  /** Frames the client accepts before granting more credit. */
  window: number
  /**
   * Frames leave at least this many ms apart: a token produced later than that after the last frame
   * leaves at once (no timer, no added latency), earlier ones share the next frame.
   */
  coalesceMs?: number
  /** A frame never holds more tokens; generation waits for credit beyond it. */
  maxFrameTokens?: number
}

const MAX_CREDITS = 1 << 20

/**
 * The daemon's end of one infer stream: ordered `infer.chunk` frames under credit-based flow
 * control. The client's window bounds what travels unread; beyond it the daemon holds at most one
 * frame of `maxFrameTokens` tokens, and `write` makes generation wait for credit.
 */
export class OutboundStream {
  readonly streamId: number
  readonly modelId: string
  readonly peer: Buffer | null
  state: StreamStatus['state'] = 'queued'
  generatedTokens = 0
  framesSent = 0
  credits: number

  private readonly rpc: ProtomuxRPC
  private readonly coalesceMs: number
  private readonly maxFrameTokens: number
  private pendingText = ''
  private pendingTokens: number[] = []
  private timer: NodeJS.Timeout | null = null
  private lastFlushAt = 0
  private creditWaiter: (() => void) | null = null
  /** Set by a client `cancel`; generation watches it beside the call's own signal. */
  readonly cancelled = new AbortController()

  constructor(opts: OutboundStreamOptions) {
    this.rpc = opts.rpc
    this.streamId = opts.streamId
    this.modelId = opts.modelId
    this.peer = opts.peer
    this.credits = opts.window
    this.coalesceMs = opts.coalesceMs ?? 2
    this.maxFrameTokens = opts.maxFrameTokens ?? 32
  }

  get bufferedTokens(): number {
    return this.pendingTokens.length
  }

  status(): StreamStatus {
    return {
      streamId: this.streamId,
      modelId: this.modelId,
      peer: this.peer,
      state: this.state,
      generatedTokens: this.generatedTokens,
      framesSent: this.framesSent,
      credits: this.credits,
      bufferedTokens: this.bufferedTokens
    }
  }

  /**
   * Adds generated tokens and their text. Returns a promise only when generation must wait for
   * credit (no promise per token on the hot path).
   */
  write(text: string, tokens: number[], signal: AbortSignal): Promise<void> | undefined {
    this.generatedTokens += tokens.length
    this.pendingText += text
    for (const token of tokens) this.pendingTokens.push(token)

    if (this.pendingTokens.length >= this.maxFrameTokens) return this.flushWhenCredited(signal)
    // A timer already pending sends these too; without credit, credit() sends them when it comes.
    if (this.timer !== null || this.credits <= 0) return
    // The first token, and any token that comes coalesceMs or more after the last frame, leaves in
    // this same turn of the event loop: one wake-up per token where tokens are slow (a timer would
    // be a second), at most one frame per coalesceMs where they are fast.
    const wait = this.lastFlushAt + this.coalesceMs - performance.now()
    if (this.framesSent === 0 || wait <= 0) {
      this.flush()
    } else {
      this.timer = setTimeout(() => {
        this.timer = null
        this.flush()
      }, Math.max(1, wait))
    }
  }

  /** Sends what is left, waiting for credit if the reader is behind. */
  async end(signal: AbortSignal): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (this.pendingText.length > 0 || this.pendingTokens.length > 0) await this.flushWhenCredited(signal)
  }

  credit(n: number): void {
    this.credits = Math.min(MAX_CREDITS, this.credits + n)
    if (this.timer === null) this.flush()
    const waiter = this.creditWaiter
    this.creditWaiter = null
    waiter?.()
  }

  /** Stops the timer; the stream sends nothing more. */
  close(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  private async flushWhenCredited(signal: AbortSignal): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    while (!this.flush()) {
      this.state = 'waiting-for-credit'
      await this.creditOrAbort(signal)
      this.state = 'generating'
    }
  }

  /** Sends the pending frame if there is one and credit for it; false when it must wait. */
  private flush(): boolean {
    if (this.pendingText.length === 0 && this.pendingTokens.length === 0) return true
    if (this.credits <= 0) return false
    const frame = { streamId: this.streamId, seq: this.framesSent, text: this.pendingText, tokens: this.pendingTokens }
    this.pendingText = ''
    this.pendingTokens = []
    this.credits--
    this.framesSent++
    this.lastFlushAt = performance.now()
    try {
      this.rpc.event('infer.chunk', c.encode(streamChunk, frame), { requestEncoding: c.raw })
    } catch {
      // The channel closed: the router aborts the call, which ends generation.
    }
    return true
  }

  private creditOrAbort(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason)
      const onabort = () => {
        this.creditWaiter = null
        reject(signal.reason)
      }
      signal.addEventListener('abort', onabort, { once: true })
      this.creditWaiter = () => {
        signal.removeEventListener('abort', onabort)
        resolve()
      }
    })
  }
}
