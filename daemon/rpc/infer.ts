import { QvacError, toWireError, type WireError } from '../../shared/errors.ts'
import type { Delegation } from '../delegation/delegation.ts'
import type { InferRequest, InferStats, StopReason, StreamTrailer } from '../../shared/messages.ts'
import type { Logger } from '../log.ts'
import type { ModelManager } from '../inference/model-manager.ts'
import { chatPrompt, completionPrompt, promptBytes } from '../inference/prompt.ts'
import { generate, type SamplingParams } from '../inference/generate.ts'
import { constrainOutput } from '../inference/grammar.ts'
import { describeBuild } from '../inference/backend.ts'
import type { Handler } from './router.ts'
import type { PeerLimits } from '../limits/peer-limits.ts'

export interface InferLimits {
  /** The largest `maxTokens` a request may ask for. */
  maxTokens: number
  /** The largest window a client may grant up front. */
  maxWindow: number
  /** The largest prompt in UTF-8 bytes (prompt, or all message contents), checked before tokenizing. */
  maxPromptBytes: number
}

// As llama.cpp's server: sampling defaults when the request leaves them out.
const DEFAULT_SAMPLING = { temperature: 0.8, topP: 0.95, topK: 40 }

/**
 * The `infer` stream. Its response is the trailer: every accepted request gets exactly one,
 * whether it ended by eos, length, stop sequence, cancel or error.
 */
export function inferHandler(opts: {
  models: ModelManager
  delegation: Delegation
  limits: InferLimits
  peerLimits: PeerLimits
  log: Logger
  exposeErrors?: boolean
  /** How far apart a stream's frames leave while its tokens come faster (see OutboundStream). */
  frameMs?: number
}): Handler<'infer'> {
  const { models, delegation, limits, peerLimits, log, exposeErrors = false } = opts
  return async (request, ctx) => {
    const started = performance.now()
    const stream = ctx.streams.open({
      streamId: request.streamId,
      modelId: request.modelId,
      peer: ctx.caller.publicKey,
      window: Math.min(request.window, limits.maxWindow),
      frameMs: opts.frameMs
    })
    const trailer = (fields: {
      stopReason: StopReason
      stats?: Omit<InferStats, 'totalTime'>
      error?: WireError
    }): StreamTrailer => ({
      frames: stream.framesSent,
      ...fields,
      stats: {
        timeToFirstToken: 0,
        tokensPerSecond: 0,
        promptTokens: 0,
        generatedTokens: stream.generatedTokens,
        promptEvalTime: 0,
        queueMs: 0,
        ...fields.stats,
        totalTime: performance.now() - started
      }
    })

    let leavePeerSlot: (() => void) | null = null
    try {
      const params = validate(request, limits)
      const signal = AbortSignal.any([ctx.signal, stream.cancelled.signal])
      // A peer's streams past its own limit wait here, not in the model's queue other peers share.
      leavePeerSlot = await peerLimits.enterStream(ctx.caller, signal)
      // A model loaded through a provider lives there; a call may also name a provider itself.
      const remote = delegation.remoteModel(request.modelId)
      const forwarded = remote
        ? await delegation.infer(request, remote, ctx, stream)
        : await delegation.route(request.delegate, (target) =>
            delegation.infer(request, { peer: target.peer, remoteId: request.modelId }, ctx, stream)
          )
      if (forwarded) return { ...forwarded, stats: { ...forwarded.stats, totalTime: performance.now() - started } }
      const managed = models.get(request.modelId)
      const prompt =
        request.messages !== undefined
          ? await chatPrompt(managed.model, managed.chatWrapper, request.messages)
          : await completionPrompt(managed.model, request.prompt as string)
      if (prompt.tokens.length >= managed.info.contextSize) {
        throw new QvacError(
          'PROMPT_TOO_LONG',
          `the prompt is ${prompt.tokens.length} tokens; the context holds ${managed.info.contextSize}`,
          { details: { promptTokens: prompt.tokens.length, contextSize: managed.info.contextSize } }
        )
      }

      const constrained = await constrainOutput(managed.model, request)
      if (constrained) Object.assign(params, { grammar: constrained.state, stop: [...params.stop, ...constrained.stops] })

      const lease = await managed.pool.acquire(signal)
      if (ctx.profile) ctx.profile.queueMs = lease.queueMs
      let result
      try {
        result = await generate(managed.model, lease.item, prompt, params, stream, signal)
      } finally {
        lease.release()
      }
      const stats = {
        timeToFirstToken: result.firstTokenAt > 0 ? result.firstTokenAt - started : 0,
        tokensPerSecond: result.tokensPerSecond,
        promptTokens: result.promptTokens,
        generatedTokens: result.generatedTokens,
        promptEvalTime: result.promptEvalTime,
        queueMs: lease.queueMs
      }
      // Stopped, but not by the client's cancel: the deadline, a disconnect or shutdown.
      const failed = result.stopReason === 'cancelled' && !stream.cancelled.signal.aborted
      const stopReason = failed ? 'error' : result.stopReason
      ctx.metrics.observe('infer.timeToFirstToken', stats.timeToFirstToken)
      ctx.metrics.observe('infer.tokensPerSecond', stats.tokensPerSecond)
      ctx.profile?.emit('infer', 'inference', {
        ts: Date.now() - (performance.now() - started),
        ms: performance.now() - started,
        gauges: {
          ...stats,
          interTokenLatencyP50: result.interTokenLatencyP50,
          interTokenLatencyP95: result.interTokenLatencyP95
        },
        tags: { stopReason, backendDevice: managed.info.backendDevice, backendBuild: describeBuild(managed.model.llama) }
      })
      return trailer({ stopReason, stats, error: failed ? toWireError(ctx.signal.reason, exposeErrors) : undefined })
    } catch (err) {
      if (stream.cancelled.signal.aborted) return trailer({ stopReason: 'cancelled' })
      if (!(err instanceof QvacError) || err.name === 'INFERENCE_FAILED') log.error(`infer on ${request.modelId} failed`, err)
      return trailer({ stopReason: 'error', error: toWireError(err, exposeErrors) })
    } finally {
      leavePeerSlot?.()
      ctx.streams.delete(stream)
    }
  }
}

export function cancelHandler(): Handler<'cancel'> {
  return ({ streamId }, ctx) => {
    const stream = ctx.streams.get(streamId)
    if (!stream) return { cancelled: false }
    stream.cancelled.abort(new QvacError('REQUEST_ABORTED', 'cancelled by the client'))
    return { cancelled: true }
  }
}

function validate(request: InferRequest, limits: InferLimits): SamplingParams {
  const invalid = (message: string, field: string) =>
    new QvacError('INVALID_INFERENCE_PARAMS', message, { details: { field } })
  if ((request.prompt === undefined) === (request.messages === undefined)) {
    throw invalid('give exactly one of prompt and messages', 'prompt')
  }
  if (request.messages !== undefined && request.messages.length === 0) throw invalid('messages is empty', 'messages')
  const bytes = promptBytes(request.prompt, request.messages)
  if (bytes > limits.maxPromptBytes) {
    throw new QvacError('PROMPT_TOO_LONG', `the prompt is ${bytes} bytes; this daemon takes at most ${limits.maxPromptBytes}`, {
      details: { promptBytes: bytes, maxPromptBytes: limits.maxPromptBytes }
    })
  }
  if (request.maxTokens < 1 || request.maxTokens > limits.maxTokens) {
    throw invalid(`maxTokens must be between 1 and ${limits.maxTokens}, got ${request.maxTokens}`, 'maxTokens')
  }
  if (request.window < 1) throw invalid('window must be at least 1', 'window')
  const temperature = request.temperature ?? DEFAULT_SAMPLING.temperature
  const topP = request.topP ?? DEFAULT_SAMPLING.topP
  if (!(temperature >= 0 && temperature <= 10)) throw invalid(`temperature must be within 0..10, got ${temperature}`, 'temperature')
  if (!(topP > 0 && topP <= 1)) throw invalid(`topP must be within (0, 1], got ${topP}`, 'topP')
  return {
    maxTokens: request.maxTokens,
    temperature,
    topP,
    topK: request.topK ?? DEFAULT_SAMPLING.topK,
    seed: request.seed ?? Math.floor(Math.random() * 0xffffffff),
    stop: request.stop
  }
}
