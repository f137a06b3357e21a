import c from 'compact-encoding'
import { QvacError } from '../shared/errors.ts'
import { CallGuard, type CallOptions } from './call-guard.ts'
import { callRpc } from './rpc-call.ts'
import {
  streamCredit,
  type ChatMessage,
  type InferStats,
  type ProfilingEnvelope,
  type StopReason,
  type StreamChunk
} from '../shared/messages.ts'
import type { Transport } from './qvac-client.ts'
import { delegateTarget, type DelegateInput } from './delegate-input.ts'
import type { Profiler } from './profiler/profiler.ts'
import { callRecord, newTraceId } from './call-record.ts'
import { checkFinite, checkString, checkUint } from './check-input.ts'

export interface InferInput {
  modelId: string
  /** Raw completion of this text; or `messages` for chat (exactly one of the two). */
  prompt?: string
  messages?: ChatMessage[]
  /** Default 256. */
  maxTokens?: number
  /** Default 0.8; 0 is greedy and deterministic. */
  temperature?: number
  topP?: number
  topK?: number
  seed?: number
  stop?: string[]
  /** Constrain the output to this JSON schema (an object or its JSON text), or to a GBNF grammar. */
  jsonSchema?: object | string
  grammar?: string
  /** Run on this provider daemon; `modelId` is then the provider's id for the model. */
  delegate?: DelegateInput
}

export interface InferOptions extends CallOptions {
  /** Frames the daemon may send ahead of the reader (default 16): the flow-control window. */
  window?: number
}

export interface InferChunk {
  seq: number
  text: string
  tokens: number[]
}

export interface InferTrailer {
  stopReason: StopReason
  frames: number
  stats: InferStats
  error?: QvacError
  /** The daemon's profiling envelope, when the stream asked for it. */
  __profilingTrailer?: ProfilingEnvelope
}

const DEFAULT_MAX_TOKENS = 256
const DEFAULT_WINDOW = 16

/**
 * One token stream: an async iterable of chunks, and `trailer`, which always resolves (never
 * rejects) with why the stream ended and its stats. Iterating throws the stream's error, if any,
 * after the chunks that came before it. Leaving the loop early cancels the stream on the daemon;
 * so does aborting `signal` (the loop then throws REQUEST_ABORTED).
 */
export class InferStream implements AsyncIterable<InferChunk> {
  readonly streamId: number
  readonly trailer: Promise<InferTrailer>

  private readonly window: number
  private readonly queue: InferChunk[] = []
  private wake: (() => void) | null = null
  private ended: InferTrailer | null = null
  private transport: Transport | null = null
  private nextSeq = 0
  private granted = 0
  private consumed = 0
  private cancelling: Promise<void> | null = null
  private bytesReceived = 0
  private readonly profiler: Profiler

  constructor(
    streamId: number,
    input: InferInput,
    opts: InferOptions,
    profiler: Profiler,
    connection: () => Promise<Transport>
  ) {
    this.streamId = streamId
    this.window = opts.window ?? DEFAULT_WINDOW
    this.profiler = profiler
    this.trailer = this.run(input, opts, connection)
  }

  /** All the text of the stream, once it ended; throws the stream's error. */
  async text(): Promise<string> {
    let text = ''
    for await (const chunk of this) text += chunk.text
    return text
  }

  /** Asks the daemon to stop; the trailer then says `cancelled`. */
  cancel(): Promise<void> {
    if (this.ended || !this.transport) return Promise.resolve()
    const transport = this.transport
    this.cancelling ??= callRpc(transport.rpc, 'cancel', { streamId: this.streamId }, new CallGuard({ timeout: 5000 })).then(
      () => {},
      () => {} // a lost connection stops the stream on the daemon anyway
    )
    return this.cancelling
  }

  /** Called by the client for each `infer.chunk` event of this stream. */
  receive(chunk: StreamChunk, bytes: number): void {
    if (this.ended) return
    this.bytesReceived += bytes
    if (chunk.seq !== this.nextSeq) {
      this.finish(errorTrailer('error', new QvacError('INTERNAL_ERROR', `stream ${this.streamId}: frame ${chunk.seq} arrived, ${this.nextSeq} expected`)))
      void this.cancel()
      return
    }
    this.nextSeq++
    this.queue.push({ seq: chunk.seq, text: chunk.text, tokens: chunk.tokens })
    this.notify()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<InferChunk> {
    let finished = false
    try {
      while (true) {
        const chunk = this.queue.shift()
        if (chunk) {
          this.consumed++
          this.grantCredit()
          yield chunk
          continue
        }
        if (this.ended) {
          finished = true
          if (this.ended.error) throw this.ended.error
          return
        }
        await new Promise<void>((resolve) => (this.wake = resolve))
      }
    } finally {
      if (!finished) {
        await this.cancel()
        await this.trailer
      }
    }
  }

  private async run(input: InferInput, opts: InferOptions, connection: () => Promise<Transport>): Promise<InferTrailer> {
    let guard: CallGuard
    try {
      checkInput(input, this.window)
      guard = new CallGuard(opts)
      this.transport = await guard.run(connection())
    } catch (err) {
      return this.finish(errorTrailer('error', toQvacError(err)))
    }
    const transport = this.transport
    transport.streams.set(this.streamId, this)
    const onabort = () => void this.cancel()
    opts.signal?.addEventListener('abort', onabort, { once: true })
    const profiling = opts.profiling ?? this.profiler.enabled
    const started = profiling ? performance.now() : 0
    const ts = profiling ? Date.now() : 0
    const traceId = profiling ? (opts.traceId ?? newTraceId()) : opts.traceId
    try {
      const result = await callRpc(
        transport.rpc,
        'infer',
        {
          streamId: this.streamId,
          window: this.window,
          modelId: input.modelId,
          prompt: input.prompt,
          messages: input.messages,
          maxTokens: input.maxTokens ?? DEFAULT_MAX_TOKENS,
          temperature: input.temperature,
          topP: input.topP,
          topK: input.topK,
          seed: input.seed,
          stop: input.stop ?? [],
          delegate: delegateTarget(input.delegate),
          jsonSchema: typeof input.jsonSchema === 'object' ? JSON.stringify(input.jsonSchema) : input.jsonSchema,
          grammar: input.grammar
        },
        guard,
        { profiling, traceId, hop: opts.hop }
      )
      const trailer = result.value
      const ended: InferTrailer = {
        stopReason: trailer.stopReason,
        frames: trailer.frames,
        stats: trailer.stats,
        error: trailer.error ? QvacError.fromWire(trailer.error) : undefined
      }
      if (result.profiling) {
        ended.__profilingTrailer = result.profiling
        const received = { ...result, bytesReceived: result.bytesReceived + this.bytesReceived }
        this.profiler.record(callRecord('infer', traceId as string, ts, performance.now() - started, received))
      }
      return this.finish(ended)
    } catch (err) {
      const error = toQvacError(err)
      return this.finish(errorTrailer(error.name === 'REQUEST_ABORTED' ? 'cancelled' : 'error', error, this.nextSeq))
    } finally {
      opts.signal?.removeEventListener('abort', onabort)
      if (transport.streams.get(this.streamId) === this) transport.streams.delete(this.streamId)
    }
  }

  private finish(trailer: InferTrailer): InferTrailer {
    if (!this.ended) this.ended = trailer
    this.notify()
    return this.ended
  }

  private notify(): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }

  /** Returns credit in batches of half a window as the reader consumes frames. */
  private grantCredit(): void {
    const owed = this.consumed - this.granted
    if (owed < Math.max(1, this.window >> 1) || !this.transport || this.ended) return
    this.granted = this.consumed
    try {
      this.transport.rpc.event('infer.credit', c.encode(streamCredit, { streamId: this.streamId, credits: owed }), {
        requestEncoding: c.raw
      })
    } catch {
      // The channel closed: the stream ends with CONNECTION_LOST from its request.
    }
  }
}

/** Typed INVALID_ARGUMENT before anything is encoded (the stream then ends with it). */
function checkInput(input: InferInput, window: number): void {
  checkString('modelId', input.modelId)
  checkString('prompt', input.prompt)
  checkUint('maxTokens', input.maxTokens)
  checkFinite('temperature', input.temperature)
  checkFinite('topP', input.topP)
  checkUint('topK', input.topK)
  checkUint('seed', input.seed)
  checkUint('window', window)
  for (const [i, m] of (input.messages ?? []).entries()) checkString(`messages[${i}].content`, m.content)
  for (const [i, stop] of (input.stop ?? []).entries()) checkString(`stop[${i}]`, stop)
}

function errorTrailer(stopReason: StopReason, error: QvacError, frames = 0): InferTrailer {
  return {
    stopReason,
    frames,
    stats: {
      timeToFirstToken: 0,
      tokensPerSecond: 0,
      promptTokens: 0,
      generatedTokens: 0,
      promptEvalTime: 0,
      totalTime: 0,
      queueMs: 0
    },
    error
  }
}

function toQvacError(err: unknown): QvacError {
  return err instanceof QvacError ? err : new QvacError('INTERNAL_ERROR', (err as Error)?.message ?? String(err), { cause: err })
}
