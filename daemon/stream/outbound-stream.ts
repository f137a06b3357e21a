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
   * While tokens come faster than this, they leave in frames about this many ms apart, none held
   * longer (default DEFAULT_FRAME_MS); 0 sends every token in a frame of its own.
   */
  frameMs?: number
  /** A frame never holds more tokens; generation waits for credit beyond it. */
  maxFrameTokens?: number
}

const MAX_CREDITS = 1 << 20

/**
 * How far apart a stream's frames leave while its tokens come faster: one 60 Hz display frame, so
 * a reader sees no difference, and each frame carries 4–5 tokens of a 250 tokens/s model instead
 * of one (its encryption, packet, acknowledgement and wake-ups on both ends, once).
 */
export const DEFAULT_FRAME_MS = 16

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
  private readonly frameMs: number
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
    this.frameMs = opts.frameMs ?? DEFAULT_FRAME_MS
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
   * credit (no promise per token on the hot path). `relayed`: a frame another daemon already
   * framed (a delegated stream), sent as it came rather than held a second time.
   */
  write(text: string, tokens: number[], signal: AbortSignal, relayed = false): Promise<void> | undefined {
    this.generatedTokens += tokens.length
    this.pendingText += text
    for (const token of tokens) this.pendingTokens.push(token)

    if (this.pendingTokens.length >= this.maxFrameTokens) return this.flushWhenCredited(signal)
    // Without credit, credit() sends these when it comes.
    if (this.credits <= 0) return
    // The first token, and a token that comes frameMs or more after the last frame, leave at once
    // with whatever waits: the decoder's own turn sends them, so steady generation needs no timer.
    // A token that comes sooner waits for the next one that does, or for the timer: none waits
    // longer than frameMs.
    if (relayed || this.framesSent === 0 || performance.now() - this.lastFlushAt >= this.frameMs) {
      if (this.timer !== null) clearTimeout(this.timer)
      this.timer = null
      this.flush()
    } else if (this.timer === null) {
      this.timer = setTimeout(this.flushHeld, this.frameMs)
    }
  }

  /** The timer's end of a hold: what waited leaves. */
  private readonly flushHeld = (): void => {
    this.timer = null
    this.flush()
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
