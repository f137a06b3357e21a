import { QvacError, isQvacError, toWireError } from '../../shared/errors.ts'
import { formatKey } from '../../shared/keys.ts'
import type { CallOptions } from '../../client/call-guard.ts'
import type {
  DelegateTarget,
  DownloadAssetRequest,
  DownloadAssetResponse,
  EmbedRequest,
  EmbedResponse,
  InferRequest,
  LoadModelRequest,
  LoadModelResponse,
  ProfilingEnvelope,
  StreamTrailer
} from '../../shared/messages.ts'
import type { InferTrailer } from '../../client/infer-stream.ts'
import type { OutboundStream } from '../stream/outbound-stream.ts'
import type { CallContext } from '../rpc/router.ts'
import type { Providers } from './providers.ts'

interface RemoteModel {
  peer: Buffer
  remoteId: string
}

/**
 * Forwards downloadAsset, loadModel, unloadModel and infer to provider daemons. A model loaded through a
 * provider gets a local id (`<provider key prefix>:<provider's id>`) so later calls find their
 * way. The provider's events come back marked with its key and hop, beside a delegation event
 * and a `delegationBreakdown` of this daemon; the caller's deadline is forwarded less the time
 * already spent, and the trace id follows the call.
 */
export class Delegation {
  private readonly providers: Providers
  private readonly defaultTarget: DelegateTarget | null
  private readonly defaultTopic: { topic: Buffer; fallbackToLocal: boolean } | null
  private readonly remote = new Map<string, RemoteModel>()

  constructor(opts: {
    providers: Providers
    defaultTarget?: DelegateTarget | null
    /** Delegate to whichever daemon announces this topic (found when first needed). */
    defaultTopic?: { topic: Buffer; fallbackToLocal: boolean } | null
  }) {
    this.providers = opts.providers
    this.defaultTarget = opts.defaultTarget ?? null
    this.defaultTopic = opts.defaultTopic ?? null
  }

  /**
   * Where a download or load goes: the request's provider, else the daemon's default provider
   * (by key, or the first daemon found on its delegation topic), else none. A topic with no
   * reachable daemon is DELEGATION_FAILED (or none, with fallbackToLocal).
   */
  async targetFor(request: { delegate?: DelegateTarget }): Promise<DelegateTarget | null> {
    if (request.delegate || this.defaultTarget || !this.defaultTopic) return request.delegate ?? this.defaultTarget
    const { topic, fallbackToLocal } = this.defaultTopic
    try {
      return { peer: await this.providers.discover(topic), fallbackToLocal }
    } catch (err) {
      if (fallbackToLocal && isQvacError(err, 'DELEGATION_FAILED')) return null
      throw err
    }
  }

  /**
   * Runs `forward` on the target provider and resolves with its result; null means the call
   * runs here (no target, or it was unreachable and the target allows falling back to local).
   */
  async route<T>(target: DelegateTarget | null | undefined, forward: (target: DelegateTarget) => Promise<T>): Promise<T | null> {
    if (!target) return null
    try {
      return await forward(target)
    } catch (err) {
      if (target.fallbackToLocal && isQvacError(err, 'DELEGATION_FAILED')) return null
      throw err
    }
  }

  remoteModel(modelId: string): RemoteModel | undefined {
    return this.remote.get(modelId)
  }

  async load(request: LoadModelRequest, target: DelegateTarget, ctx: CallContext): Promise<LoadModelResponse> {
    const { value, envelope, timing } = await this.forward(target.peer, ctx, 'loadModel', (client, opts) =>
      client.loadModel({ source: request.source, modelType: request.modelType, config: request.config }, opts)
    )
    const modelId = `${formatKey(target.peer).slice(0, 8)}:${value.modelId}`
    this.remote.set(modelId, { peer: target.peer, remoteId: value.modelId })
    this.annotate(ctx, 'loadModel', target.peer, envelope, timing)
    return { modelId, info: value.info, stats: value.stats }
  }

  async download(request: DownloadAssetRequest, target: DelegateTarget, ctx: CallContext): Promise<DownloadAssetResponse> {
    const { value, envelope, timing } = await this.forward(target.peer, ctx, 'downloadAsset', (client, opts) =>
      client.downloadAsset({ source: request.source, expectedSha256: request.expectedSha256 }, opts)
    )
    this.annotate(ctx, 'downloadAsset', target.peer, envelope, timing)
    return { asset: value.asset, stats: value.stats }
  }

  async unload(model: RemoteModel, modelId: string, ctx: CallContext): Promise<number> {
    const { value } = await this.forward(model.peer, ctx, 'unloadModel', (client, opts) => client.unloadModel(model.remoteId, opts).then((references) => ({ references })))
    if (value.references === 0) this.remote.delete(modelId)
    return value.references
  }

  async embed(request: EmbedRequest, model: RemoteModel, ctx: CallContext): Promise<EmbedResponse> {
    const { value, envelope, timing } = await this.forward(model.peer, ctx, 'embed', (client, opts) =>
      client.embed({ modelId: model.remoteId, inputs: request.inputs }, opts)
    )
    this.annotate(ctx, 'embed', model.peer, envelope, timing)
    return value
  }

  /**
   * Streams from the provider into this daemon's stream: chunks pass through under both windows
   * (this daemon reads from the provider only as fast as its own client takes), a cancel here
   * cancels there, and a provider lost mid-stream ends the stream with PROVIDER_LOST.
   */
  async infer(request: InferRequest, model: RemoteModel, ctx: CallContext, stream: OutboundStream): Promise<StreamTrailer> {
    const signal = AbortSignal.any([ctx.signal, stream.cancelled.signal])
    const started = performance.now()
    const ts = Date.now()
    const client = await this.providers.get(model.peer)
    const connected = performance.now()
    stream.state = 'generating'
    const upstream = client.infer(
      {
        modelId: model.remoteId,
        prompt: request.prompt,
        messages: request.messages,
        maxTokens: request.maxTokens,
        temperature: request.temperature,
        topP: request.topP,
        topK: request.topK,
        seed: request.seed,
        stop: request.stop,
        jsonSchema: request.jsonSchema,
        grammar: request.grammar
      },
      { ...this.callOptions(ctx), signal, window: request.window }
    )
    try {
      for await (const chunk of upstream) {
        const waiting = stream.write(chunk.text, chunk.tokens, signal)
        if (waiting) await waiting
      }
      await stream.end(signal)
    } catch {
      // The upstream trailer below says what happened (cancelled, provider error or lost).
    }
    const trailer = await upstream.trailer
    const done = performance.now()
    this.annotate(ctx, 'infer', model.peer, trailer.__profilingTrailer, { started, ts, connected, done })

    if (stream.cancelled.signal.aborted) return { ...this.wire(trailer, stream), stopReason: 'cancelled', error: undefined }
    if (trailer.error && isQvacError(trailer.error, 'CONNECTION_LOST')) {
      const lost = new QvacError('PROVIDER_LOST', `provider ${formatKey(model.peer)} was lost mid-stream`, {
        details: { provider: formatKey(model.peer), generatedTokens: stream.generatedTokens }
      })
      return { ...this.wire(trailer, stream), stopReason: 'error', error: toWireError(lost) }
    }
    return this.wire(trailer, stream)
  }

  async close(): Promise<void> {
    await this.providers.close()
  }

  private wire(trailer: InferTrailer, stream: OutboundStream): StreamTrailer {
    return {
      stopReason: trailer.stopReason,
      frames: stream.framesSent,
      stats: trailer.stats,
      error: trailer.error ? toWireError(trailer.error) : undefined
    }
  }

  private callOptions(ctx: CallContext): CallOptions {
    return {
      timeout: ctx.deadline === undefined ? undefined : Math.max(1, ctx.deadline - Date.now()),
      signal: ctx.signal,
      profiling: ctx.profile !== null,
      traceId: ctx.profile?.traceId ?? ctx.traceId,
      hop: ctx.hop + 1
    }
  }

  private async forward<T extends object>(
    peer: Buffer,
    ctx: CallContext,
    op: string,
    call: (client: Awaited<ReturnType<Providers['get']>>, opts: CallOptions) => Promise<T & { __profiling?: ProfilingEnvelope }>
  ): Promise<{ value: T; envelope?: ProfilingEnvelope; timing: Timing }> {
    const started = performance.now()
    const ts = Date.now()
    const client = await this.providers.get(peer)
    const connected = performance.now()
    try {
      const value = await call(client, this.callOptions(ctx))
      return { value, envelope: value.__profiling, timing: { started, ts, connected, done: performance.now() } }
    } catch (err) {
      if (isQvacError(err, 'CONNECTION_LOST')) {
        throw new QvacError('PROVIDER_LOST', `provider ${formatKey(peer)} was lost during ${op}`, { cause: err })
      }
      throw err
    }
  }

  private annotate(ctx: CallContext, op: string, peer: Buffer, envelope: ProfilingEnvelope | undefined, t: Timing): void {
    if (!ctx.profile) return
    const connectionMs = t.connected - t.started
    const totalDelegationMs = t.done - t.started
    ctx.profile.delegationBreakdown = { connectionMs, serverWaitMs: t.done - t.connected, totalDelegationMs }
    if (envelope) ctx.profile.events.push(...envelope.events)
    ctx.profile.emit(op, 'delegation', {
      ts: t.ts,
      ms: totalDelegationMs,
      gauges: {
        connectionMs,
        serverWaitMs: t.done - t.connected,
        providerTotalServerMs: envelope?.serverBreakdown.totalServerMs ?? 0
      },
      tags: { provider: formatKey(peer) }
    })
  }
}

interface Timing {
  started: number
  ts: number
  connected: number
  done: number
}
