import c from 'compact-encoding'
import { QvacError, isQvacError } from '../shared/errors.ts'
import { formatKey } from '../shared/keys.ts'
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
import { callRecord } from './call-record.ts'
import { newTraceId } from '../shared/profiler/ids.ts'
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
  /** Over a topic: continue on another daemon when the one serving fails (default true). */
  failover?: boolean
}

/** Where one attempt of a stream runs. */
export interface StreamPlacement {
  transport: Transport
  /** The model's id on that daemon. */
  modelId: string
  /** The daemon's key (z32); null over the control socket. */
  daemon: string | null
  /** Why this daemon was chosen (routing over a topic). */
  reason?: string
  /** The last sign of life from that daemon (epoch ms): announcements count. */
  lastHeard?: () => number
  /** Called when the attempt ends (the router's count of streams it placed there). */
  done?: () => void
}

/** Finds the daemon for the next attempt; `exclude` holds the daemons that failed this stream. */
export type PlaceStream = (attempt: { exclude: Set<string>; guard: CallGuard }) => Promise<StreamPlacement>

/** A stream moved to another daemon after a failure. */
export interface Failover {
  from: string
  to: string
  /** Tokens the reader had received when the first daemon failed. */
  atToken: number
  /** From the last sign of life of the failed daemon to the moment the failure was noticed. */
  detectMs: number
  /** From the failure noticed to the next daemon's first chunk: the stream's extra wait. */
  resumeMs: number
  /** The error code that ended the attempt. */
  error: string
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
  /** The daemons that served the stream, in order, and why each was chosen. */
  served: { daemon: string | null; reason?: string }[]
  /** Every move to another daemon (empty when none). */
  failovers: Failover[]
  /** The daemons' profiling envelope, when the stream asked for it: the events of every daemon that served. */
  __profilingTrailer?: ProfilingEnvelope
}

/** The placement of a stream on a single connection (no failover). */
export function singleDaemon(connection: () => Promise<Transport>, modelId: string): PlaceStream {
  return async ({ guard }) => {
    const transport = await guard.run(connection())
    return { transport, modelId, daemon: transport.remotePublicKey ? formatKey(transport.remotePublicKey) : null }
  }
}

// Errors after which another daemon may well succeed: it refused, failed, vanished or restarted.
const FAILOVER_CODES = new Set(['QUEUE_FULL', 'CONNECTION_LOST', 'CONNECT_FAILED', 'CONNECT_REFUSED', 'RATE_LIMITED', 'DAEMON_SHUTTING_DOWN', 'MODEL_NOT_FOUND', 'MODEL_LOAD_FAILED', 'PROVIDER_LOST', 'DELEGATION_FAILED'])

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
  private readonly queue: (InferChunk & { attempt: number })[] = []
  private wake: (() => void) | null = null
  private ended: InferTrailer | null = null
  private transport: Transport | null = null
  private nextSeq = 0
  /** Frames of the current attempt: expected next, consumed and credited back. */
  private attempt = 0
  private attemptSeq = 0
  private granted = 0
  private consumed = 0
  private deliveredText = ''
  private deliveredTokens = 0
  private lastChunkAt = 0
  private attemptFirstChunkAt = 0
  private cancelRequested = false
  private cancelling: Promise<void> | null = null
  private bytesReceived = 0
  private readonly profiler: Profiler

  constructor(
    streamId: number,
    input: InferInput,
    opts: InferOptions,
    profiler: Profiler,
    place: PlaceStream
  ) {
    this.streamId = streamId
    this.window = opts.window ?? DEFAULT_WINDOW
    this.profiler = profiler
    this.trailer = this.run(input, opts, place)
  }

  /** All the text of the stream, once it ended; throws the stream's error. */
  async text(): Promise<string> {
    let text = ''
    for await (const chunk of this) text += chunk.text
    return text
  }

  /** Asks the daemon to stop; the trailer then says `cancelled`. */
  cancel(): Promise<void> {
    this.cancelRequested = true
    if (this.ended || !this.transport) return Promise.resolve()
    const transport = this.transport
    this.cancelling ??= callRpc(transport, 'cancel', { streamId: this.streamId }, new CallGuard({ timeout: 5000 })).then(
      () => {},
      () => {} // a lost connection stops the stream on the daemon anyway
    )
    return this.cancelling
  }

  /** Called by the client for each `infer.chunk` event of this stream. */
  receive(chunk: StreamChunk, bytes: number): void {
    if (this.ended) return
    this.bytesReceived += bytes
    if (chunk.seq !== this.attemptSeq) {
      this.finish(errorTrailer('error', new QvacError('INTERNAL_ERROR', `stream ${this.streamId}: frame ${chunk.seq} arrived, ${this.attemptSeq} expected`)))
      void this.cancel()
      return
    }
    if (this.attemptSeq++ === 0) this.attemptFirstChunkAt = Date.now()
    this.lastChunkAt = Date.now()
    this.deliveredText += chunk.text
    this.deliveredTokens += chunk.tokens.length
    // One numbering for the reader across daemons.
    this.queue.push({ seq: this.nextSeq++, text: chunk.text, tokens: chunk.tokens, attempt: this.attempt })
    this.notify()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<InferChunk> {
    let finished = false
    try {
      while (true) {
        const chunk = this.queue.shift()
        if (chunk) {
          // Only frames of the attempt running now earn its daemon credit.
          if (chunk.attempt === this.attempt) {
            this.consumed++
            this.grantCredit()
          }
          yield { seq: chunk.seq, text: chunk.text, tokens: chunk.tokens }
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

  private async run(input: InferInput, opts: InferOptions, place: PlaceStream): Promise<InferTrailer> {
    let guard: CallGuard
    try {
      checkInput(input, this.window)
      guard = new CallGuard(opts)
    } catch (err) {
      return this.finish(errorTrailer('error', toQvacError(err)))
    }
    const onabort = () => void this.cancel()
    opts.signal?.addEventListener('abort', onabort, { once: true })
    const profiling = opts.profiling ?? this.profiler.enabled
    const started = profiling ? performance.now() : 0
    const ts = profiling ? Date.now() : 0
    const traceId = profiling ? (opts.traceId ?? newTraceId()) : opts.traceId
    const failover = opts.failover ?? true
    const maxTokens = input.maxTokens ?? DEFAULT_MAX_TOKENS
    const exclude = new Set<string>()
    const served: InferTrailer['served'] = []
    const failovers: Failover[] = []
    const events: ProfilingEnvelope['events'] = []
    let pending: Omit<Failover, 'to' | 'resumeMs'> & { noticedAt: number } | null = null
    let lastError: QvacError | null = null
    let bytesSent = 0

    try {
      while (true) {
        let placement: StreamPlacement
        try {
          placement = await place({ exclude, guard })
        } catch (err) {
          // No daemon left to try: the error that started the search says more than "none left".
          const error = lastError && isQvacError(err, 'CONNECT_FAILED') ? lastError : toQvacError(err)
          return this.finish(this.withRoute(errorTrailer(stopReasonOf(error), error, this.nextSeq), served, failovers))
        }
        if (pending) {
          failovers.push({ from: pending.from, to: placement.daemon ?? 'local', atToken: pending.atToken, detectMs: pending.detectMs, error: pending.error, resumeMs: 0 })
        }
        served.push({ daemon: placement.daemon, reason: placement.reason })
        const transport = (this.transport = placement.transport)
        this.attempt++
        this.attemptSeq = 0
        this.consumed = this.granted = 0
        transport.streams.set(this.streamId, this)
        const resumedFrom = pending ? { noticedAt: pending.noticedAt, index: failovers.length - 1, tokens: this.deliveredTokens } : null
        pending = null
        const continued = this.deliveredTokens > 0
        let result: Awaited<ReturnType<typeof callRpc<'infer'>>> | null = null
        let error: QvacError | null = null
        try {
          if (this.cancelRequested) throw new QvacError('REQUEST_ABORTED', 'the stream was cancelled')
          result = await callRpc(
            transport,
            'infer',
            {
              streamId: this.streamId,
              window: this.window,
              modelId: placement.modelId,
              // Continued elsewhere: from the prompt plus the text the reader already has.
              prompt: continued ? (input.prompt as string) + this.deliveredText : input.prompt,
              messages: input.messages,
              maxTokens: maxTokens - this.deliveredTokens,
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
        } catch (err) {
          error = toQvacError(err)
        } finally {
          if (transport.streams.get(this.streamId) === this) transport.streams.delete(this.streamId)
          placement.done?.()
        }
        if (resumedFrom && this.deliveredTokens > resumedFrom.tokens) {
          failovers[resumedFrom.index].resumeMs = Math.max(0, this.attemptFirstChunkAt - resumedFrom.noticedAt)
        }
        if (result) {
          bytesSent += result.bytesSent
          const trailer = result.value
          if (result.profiling) events.push(...tagged(result.profiling.events, placement))
          if (trailer.error) error = QvacError.fromWire(trailer.error)
          if (!error || !this.mayFailOver(error, failover, input, guard)) {
            const ended: InferTrailer = {
              stopReason: trailer.stopReason,
              frames: this.nextSeq,
              stats: { ...trailer.stats, generatedTokens: this.deliveredTokens },
              error: error ?? undefined,
              served,
              failovers
            }
            if (result.profiling) {
              ended.__profilingTrailer = { ...result.profiling, events }
              const received = { profiling: ended.__profilingTrailer, bytesSent, bytesReceived: result.bytesReceived + this.bytesReceived }
              this.profiler.recordLater(callRecord('infer', traceId as string, ts, performance.now() - started, received))
            }
            return this.finish(ended)
          }
        }
        error = error as QvacError
        if (!this.mayFailOver(error, failover, input, guard)) {
          const stopReason = error.name === 'REQUEST_ABORTED' ? 'cancelled' : stopReasonOf(error)
          return this.finish(this.withRoute(errorTrailer(stopReason, error, this.nextSeq), served, failovers))
        }
        const noticedAt = Date.now()
        const lastHeard = Math.max(this.lastChunkAt, placement.lastHeard?.() ?? 0)
        lastError = error
        exclude.add(placement.daemon ?? 'local')
        pending = {
          from: placement.daemon ?? 'local',
          atToken: this.deliveredTokens,
          detectMs: lastHeard > 0 ? noticedAt - lastHeard : 0,
          error: error.name,
          noticedAt
        }
        if (this.deliveredTokens >= maxTokens) {
          return this.finish(this.withRoute({ ...errorTrailer('length', error, this.nextSeq), error: undefined }, served, failovers))
        }
      }
    } finally {
      opts.signal?.removeEventListener('abort', onabort)
    }
  }

  /** Whether the stream may go on on another daemon after `error`. */
  private mayFailOver(error: QvacError, failover: boolean, input: InferInput, guard: CallGuard): boolean {
    if (!failover || this.cancelRequested || !FAILOVER_CODES.has(error.name)) return false
    try {
      guard.check()
    } catch {
      return false
    }
    // A chat turn, or output held to a schema or grammar, cannot resume from part of itself: only before its first token.
    return this.deliveredTokens === 0 || (input.prompt !== undefined && input.jsonSchema === undefined && input.grammar === undefined)
  }

  private withRoute(trailer: InferTrailer, served: InferTrailer['served'], failovers: Failover[]): InferTrailer {
    return { ...trailer, stats: { ...trailer.stats, generatedTokens: this.deliveredTokens }, served, failovers }
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
    served: [],
    failovers: [],
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

function stopReasonOf(error: QvacError): StopReason {
  return error.name === 'REQUEST_ABORTED' ? 'cancelled' : 'error'
}

/** The daemon's events; its rpc event marked with why that daemon served (routing over a topic). */
function tagged(events: ProfilingEnvelope['events'], placement: StreamPlacement): ProfilingEnvelope['events'] {
  if (!placement.reason) return events
  return events.map((e) => (e.hop === 0 && e.kind === 'rpc' ? { ...e, tags: { ...e.tags, route: placement.reason as string } } : e))
}
