import { QvacError, isQvacError, toWireError } from '../../shared/errors.ts'
import { formatKey, parseKey } from '../../shared/keys.ts'
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
import type { TopicClient } from '../../client/topic/topic-client.ts'

interface RemoteModel {
  peer: Buffer
  remoteId: string
  /** Loaded through the delegation topic: later calls are routed (and fail over) there. */
  viaTopic?: boolean
}

/** Where a call is forwarded: one provider, or whichever daemon of the delegation topic fits best. */
export type Target = DelegateTarget | { topic: true; fallbackToLocal: boolean }

/** Opens the client over the delegation topic (once; again after it failed). */
export type OpenTopic = () => Promise<TopicClient>

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
  private readonly openTopic: OpenTopic | null
  private topicClient: Promise<TopicClient> | null = null

  constructor(opts: {
    providers: Providers
    defaultTarget?: DelegateTarget | null
    /** Delegate to the daemons announcing this topic, the least loaded per call (client/topic). */
    defaultTopic?: { topic: Buffer; fallbackToLocal: boolean } | null
    openTopic?: OpenTopic
  }) {
    this.providers = opts.providers
    this.defaultTarget = opts.defaultTarget ?? null
    this.defaultTopic = opts.defaultTopic ?? null
    this.openTopic = opts.openTopic ?? null
  }

  /**
   * Where a download or load goes: the request's provider, else the daemon's default provider,
   * else its delegation topic (routed per call), else none.
   */
  async targetFor(request: { delegate?: DelegateTarget }): Promise<Target | null> {
    if (request.delegate || this.defaultTarget || !this.defaultTopic) return request.delegate ?? this.defaultTarget
    return { topic: true, fallbackToLocal: this.defaultTopic.fallbackToLocal }
  }

  /**
   * Runs `forward` on the target provider and resolves with its result; null means the call
   * runs here (no target, or it was unreachable and the target allows falling back to local).
   */
  async route<T, D extends Target>(target: D | null | undefined, forward: (target: D) => Promise<T>): Promise<T | null> {
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

  async load(request: LoadModelRequest, target: Target, ctx: CallContext): Promise<LoadModelResponse> {
    const input = { source: request.source, modelType: request.modelType, config: request.config }
    if ('topic' in target) {
      const { value, envelope, timing, peer } = await this.forwardToTopic(ctx, 'loadModel', (client, opts) => client.loadModel(input, opts))
      const modelId = `${formatKey(peer).slice(0, 8)}:${value.modelId}`
      this.remote.set(modelId, { peer, remoteId: value.modelId, viaTopic: true })
      this.annotate(ctx, 'loadModel', peer, envelope, timing, value.__route?.reason)
      return { modelId, info: value.info, stats: value.stats }
    }
    const { value, envelope, timing } = await this.forward(target.peer, ctx, 'loadModel', (client, opts) => client.loadModel(input, opts))
    const modelId = `${formatKey(target.peer).slice(0, 8)}:${value.modelId}`
    this.remote.set(modelId, { peer: target.peer, remoteId: value.modelId })
    this.annotate(ctx, 'loadModel', target.peer, envelope, timing)
    return { modelId, info: value.info, stats: value.stats }
  }

  /** Forwards a download; the provider's progress events reach the caller when it asked for them. */
  async download(request: DownloadAssetRequest, target: Target, ctx: CallContext): Promise<DownloadAssetResponse> {
    const { progressId } = request
    const input = {
      source: request.source,
      expectedSha256: request.expectedSha256,
      onProgress:
        progressId === undefined
          ? undefined
          : ({ bytes, total, speedBps }: { bytes: number; total: number | null; speedBps: number }) =>
              ctx.notify('download.progress', { progressId, bytes, total: total ?? 0, speedBps })
    }
    if ('topic' in target) {
      const { value, envelope, timing, peer } = await this.forwardToTopic(ctx, 'downloadAsset', (client, opts) => client.downloadAsset(input, opts))
      this.annotate(ctx, 'downloadAsset', peer, envelope, timing, value.__route?.reason)
      return { asset: value.asset, stats: value.stats }
    }
    const { value, envelope, timing } = await this.forward(target.peer, ctx, 'downloadAsset', (client, opts) => client.downloadAsset(input, opts))
    this.annotate(ctx, 'downloadAsset', target.peer, envelope, timing)
    return { asset: value.asset, stats: value.stats }
  }

  async unload(model: RemoteModel, modelId: string, ctx: CallContext): Promise<number> {
    if (model.viaTopic) {
      const references = await (await this.topic()).unloadModel(model.remoteId, this.callOptions(ctx))
      if (references === 0) this.remote.delete(modelId)
      return references
    }
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
    const client = model.viaTopic ? await this.topic() : await this.providers.get(model.peer)
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
        // The provider framed these already: each leaves as it came, not held here again.
        const waiting = stream.write(chunk.text, chunk.tokens, signal, true)
        if (waiting) await waiting
      }
      await stream.end(signal)
    } catch {
      // The upstream trailer below says what happened (cancelled, provider error or lost).
    }
    const trailer = await upstream.trailer
    const done = performance.now()
    // Over the topic the stream may have moved: the daemon that finished it is the provider.
    const last = trailer.served.at(-1)
    const peer = model.viaTopic && last?.daemon ? parseKey(last.daemon, 'provider key') : model.peer
    this.annotate(ctx, 'infer', peer, trailer.__profilingTrailer, { started, ts, connected, done }, last?.reason, trailer.failovers.length)

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
    const topic = this.topicClient
    this.topicClient = null
    if (topic) await topic.then((c) => c.close(), () => {})
    await this.providers.close()
  }

  /** The client over the delegation topic; DELEGATION_FAILED when no daemon there answers. */
  private async topic(): Promise<TopicClient> {
    if (!this.openTopic) throw new QvacError('DELEGATION_FAILED', 'this daemon has no delegation topic')
    this.topicClient ??= this.openTopic()
    const pending = this.topicClient
    try {
      return await pending
    } catch (err) {
      if (this.topicClient === pending) this.topicClient = null
      throw new QvacError('DELEGATION_FAILED', `no provider reachable on the delegation topic: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Runs a unary call over the delegation topic (routed there, skipping daemons that fail). */
  private async forwardToTopic<T extends { __profiling?: ProfilingEnvelope; __route?: { daemon: string; reason: string } }>(
    ctx: CallContext,
    op: string,
    call: (client: TopicClient, opts: CallOptions) => Promise<T>
  ): Promise<{ value: T; envelope?: ProfilingEnvelope; timing: Timing; peer: Buffer }> {
    const started = performance.now()
    const ts = Date.now()
    const client = await this.topic()
    const connected = performance.now()
    let value: T
    try {
      value = await call(client, this.callOptions(ctx))
    } catch (err) {
      if (isQvacError(err, 'CONNECTION_LOST') || isQvacError(err, 'CONNECT_FAILED')) {
        throw new QvacError('DELEGATION_FAILED', `no provider on the delegation topic completed ${op}: ${(err as Error).message}`, { cause: err })
      }
      throw err
    }
    const peer = parseKey((value.__route as { daemon: string }).daemon, 'provider key')
    return { value, envelope: value.__profiling, timing: { started, ts, connected, done: performance.now() }, peer }
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

  private annotate(ctx: CallContext, op: string, peer: Buffer, envelope: ProfilingEnvelope | undefined, t: Timing, route?: string, failovers = 0): void {
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
      tags: { provider: formatKey(peer), ...(route ? { route } : {}), ...(failovers > 0 ? { failovers: String(failovers) } : {}) }
    })
  }
}

interface Timing {
  started: number
  ts: number
  connected: number
  done: number
}
