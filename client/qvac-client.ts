import { EventEmitter } from 'node:events'
import c from 'compact-encoding'
import type ProtomuxRPC from 'protomux-rpc'
import { QvacError } from '../shared/errors.ts'
import { CallGuard, type CallOptions } from './call-guard.ts'
import { callRpc } from './rpc-call.ts'
import {
  streamChunk,
  downloadProgress,
  loadReport,
  type LoadReport,
  type DaemonStatus,
  type DownloadAssetRequest,
  type DownloadAssetResponse,
  type EmbedResponse,
  type LoadModelRequest,
  type LoadModelResponse,
  type MethodName,
  type ModelConfig,
  type PingResponse,
  type RequestOf,
  type ResponseOf,
  type CacheListing,
  type LoadedModel,
  type RemoveCacheResponse
} from '../shared/messages.ts'
import { InferStream, singleDaemon, type InferInput, type InferOptions } from './infer-stream.ts'
import { Profiler } from './profiler/profiler.ts'
import { delegateTarget, type DelegateInput } from './delegate-input.ts'
import type { DownloadProgress } from '../shared/download-stats.ts'
import { callRecord, type Profiled } from './call-record.ts'
import { epochMs } from '../shared/profiler/clock.ts'
import { checkBoolean, checkString, checkUint } from './check-input.ts'

/** One open channel to a daemon, as a connector makes it (swarm or control socket). */
export interface Connection {
  rpc: ProtomuxRPC
  /** The daemon's public key; null over the control socket. */
  remotePublicKey: Buffer | null
  destroy(): void
}

/** A connection in use by the client: with the infer streams and downloads running on it. */
export interface Transport extends Connection {
  streams: Map<number, InferStream>
  downloads: Map<number, (progress: DownloadProgress) => void>
}

/** Opens a connection; `signal` aborts when the client closes, so a pending connect stops at once. */
export type Connector = (signal: AbortSignal) => Promise<Connection>

export interface DownloadAssetInput {
  source: string
  /** The file must have this SHA-256 (hex); anything else is CHECKSUM_VALIDATION_FAILED. */
  expectedSha256?: string
  /** Called with the daemon's progress (about every 150 ms). */
  onProgress?: (progress: DownloadProgress) => void
  delegate?: DelegateInput
}

export interface LoadModelInput {
  source: string
  /** Default 'llm' (the only type so far). */
  modelType?: string
  config?: ModelConfig
  /** Have the daemon load it on this provider daemon (its later infer calls go there too). */
  delegate?: DelegateInput
}

export interface EmbedInput {
  /** A model loaded with modelType 'embedding'. */
  modelId: string
  inputs: string[]
  delegate?: DelegateInput
}

/**
 * A connection to a qvacd daemon with typed methods. It connects lazily and again after a drop:
 * a lost connection fails the calls in flight with CONNECTION_LOST, and the next call reconnects.
 *
 * Events: `connect` (transport), `disconnect` (transport), `load` (report, transport): the
 * daemon's load announcement, about every second.
 */
export class QvacClient extends EventEmitter {
  private readonly connector: Connector
  private readonly onclose: () => Promise<void>
  private current: Promise<Transport> | null = null
  /** The transport `current` resolved to, while it is open: calls then skip awaiting `current`. */
  private open: Transport | null = null
  private closed = false
  private readonly closing = new AbortController()
  private nextStreamId = 1
  /** Records every call's timings when enabled; off by default (then nothing is timed). */
  readonly profiler: Profiler

  constructor(connector: Connector, onclose: () => Promise<void> = async () => {}, opts: { profiler?: Profiler } = {}) {
    super()
    this.connector = connector
    this.onclose = onclose
    // A client over a topic shares its profiler with the per-daemon clients it routes to.
    this.profiler = opts.profiler ?? new Profiler()
  }

  /** Connects now (calls would connect anyway); rejects with CONNECT_FAILED or a version mismatch. */
  async ready(): Promise<Transport> {
    return this.connection()
  }

  ping(opts?: CallOptions): Promise<Profiled<PingResponse>> {
    return this.call('ping', null, opts)
  }

  status(opts?: CallOptions): Promise<Profiled<DaemonStatus>> {
    return this.call('status', null, opts)
  }

  /** Has the daemon fetch a source into its cache; resolves with what was fetched and what it cost. */
  async downloadAsset(input: DownloadAssetInput, opts: CallOptions = {}): Promise<Profiled<DownloadAssetResponse>> {
    const request: DownloadAssetRequest = {
      source: input.source,
      expectedSha256: input.expectedSha256,
      delegate: delegateTarget(input.delegate)
    }
    if (!input.onProgress) return this.call('downloadAsset', request, opts)
    const transport = await this.connection(opts)
    const progressId = this.nextStreamId++
    transport.downloads.set(progressId, input.onProgress)
    try {
      return await this.call('downloadAsset', { ...request, progressId }, opts)
    } finally {
      transport.downloads.delete(progressId)
    }
  }

  /** Loads a model (or takes another reference to it) and returns its id, info and load stats. */
  async loadModel(input: LoadModelInput, opts?: CallOptions): Promise<Profiled<LoadModelResponse>> {
    checkString('source', input.source)
    const config = input.config ?? {}
    checkUint('config.contextSize', config.contextSize)
    checkUint('config.threads', config.threads)
    checkBoolean('config.gpu', config.gpu)
    checkUint('config.sequences', config.sequences)
    checkUint('config.maxQueueDepth', config.maxQueueDepth)
    const request: LoadModelRequest = {
      source: input.source,
      modelType: input.modelType ?? 'llm',
      config: input.config ?? {},
      delegate: delegateTarget(input.delegate)
    }
    return this.call('loadModel', request, opts)
  }

  /** Drops one reference; resolves with the references left (0: freed). */
  async unloadModel(modelId: string, opts?: CallOptions): Promise<number> {
    return (await this.call('unloadModel', { modelId }, opts)).references
  }

  /** The daemon's model cache: files, their sources, last use, and which are loaded (operator only). */
  listCache(opts?: CallOptions): Promise<Profiled<CacheListing>> {
    return this.call('listCache', null, opts)
  }

  /** Deletes a cached model by source or SHA-256 prefix; a loaded one only with `force` (operator only). */
  removeCache(target: string, opts: CallOptions & { force?: boolean } = {}): Promise<Profiled<RemoveCacheResponse>> {
    return this.call('removeCache', { target, force: opts.force ?? false }, opts)
  }

  /** The loaded models with memory, sequences and idle time (`qvacd ps`). */
  async listLoaded(opts?: CallOptions): Promise<LoadedModel[]> {
    return (await this.call('listLoaded', null, opts)).models
  }

  /** Streams tokens; see InferStream. The timeout, if any, bounds the whole stream. */
  infer(input: InferInput, opts: InferOptions = {}): InferStream {
    // One daemon: nowhere to fail over to.
    return new InferStream(this.nextStreamId++, input, { ...opts, failover: false }, this.profiler, singleDaemon(() => this.connection(opts), input.modelId))
  }

  /** One L2-normalized vector per input, with each input's token count and the daemon's timings. */
  embed(input: EmbedInput, opts?: CallOptions): Promise<Profiled<EmbedResponse>> {
    return this.call('embed', { modelId: input.modelId, inputs: input.inputs, delegate: delegateTarget(input.delegate) }, opts)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.closing.abort()
    const current = this.current
    this.current = null
    this.open = null
    if (current) await current.then((t) => t.destroy(), () => {})
    await this.onclose()
  }

  private async call<M extends MethodName>(method: M, body: RequestOf<M>, opts: CallOptions = {}): Promise<Profiled<ResponseOf<M>>> {
    const guard = new CallGuard(opts)
    if (!(opts.profiling ?? this.profiler.enabled)) {
      const next = this.transportFor(opts, guard)
      const transport = next instanceof Promise ? await next : next
      return (await callRpc(transport, method, body, guard, { traceId: opts.traceId, hop: opts.hop })).value as Profiled<ResponseOf<M>>
    }
    // Profiled: timings only on this path, so a disabled profiler costs nothing.
    // Without a trace of the caller's, the daemon starts one (its events carry it back): no id to
    // make or send here.
    const started = performance.now()
    const ts = epochMs(started)
    const next = this.transportFor(opts, guard)
    const transport = next instanceof Promise ? await next : next
    const result = await callRpc(transport, method, body, guard, { profiling: true, traceId: opts.traceId, hop: opts.hop })
    const value = result.value as Profiled<ResponseOf<M>>
    if (result.profiling) value.__profiling = result.profiling
    this.profiler.recordLater(callRecord(method, opts.traceId, ts, performance.now() - started, result))
    return value
  }

  /** The open transport as it is (no turn of the microtask queue), or the connection to come. */
  private transportFor(opts: CallOptions, guard: CallGuard): Transport | Promise<Transport> {
    const open = this.open
    if (open === null || opts.forceNewConnection || this.closed) return guard.run(this.connection(opts))
    guard.check()
    return open
  }

  private connection(opts: CallOptions = {}): Promise<Transport> {
    if (this.closed) return Promise.reject(new QvacError('CLIENT_CLOSED', 'the client is closed'))
    if (opts.forceNewConnection && this.current) {
      const old = this.current
      this.current = null
      this.open = null
      old.then((t) => t.destroy(), () => {})
    }
    if (this.current) return this.current
    const pending = this.connector(this.closing.signal).then(
      (connection) => {
        if (this.closed) {
          connection.destroy()
          throw new QvacError('CLIENT_CLOSED', 'the client is closed')
        }
        const transport: Transport = { ...connection, streams: new Map(), downloads: new Map() }
        receiveEvents(transport, (report) => this.emit('load', report, transport))
        const ondisconnect = () => {
          if (this.open === transport) this.open = null
          if (this.current === pending) this.current = null
          this.emit('disconnect', transport)
        }
        if (transport.rpc.closed) ondisconnect()
        else {
          transport.rpc.on('close', ondisconnect)
          if (this.current === pending) this.open = transport
        }
        this.emit('connect', transport)
        return transport
      },
      (err) => {
        if (this.current === pending) this.current = null
        throw err
      }
    )
    this.current = pending
    return pending
  }
}

/** Connects a new client now; if that fails, closes it (releasing what it owns) and rethrows. */
export async function openClient(client: QvacClient): Promise<QvacClient> {
  try {
    await client.ready()
  } catch (err) {
    await client.close()
    throw err
  }
  return client
}

/** Routes the daemon's events to their stream or download; a malformed one is dropped, never thrown. */
function receiveEvents(transport: Transport, onload: (report: LoadReport) => void): void {
  transport.rpc.respond<Buffer, null>('infer.chunk', { requestEncoding: c.raw }, (raw) => {
    try {
      const chunk = c.decode(streamChunk, raw)
      transport.streams.get(chunk.streamId)?.receive(chunk, raw.byteLength)
    } catch {}
    return null
  })
  transport.rpc.respond<Buffer, null>('download.progress', { requestEncoding: c.raw }, (raw) => {
    try {
      const { progressId, bytes, total, speedBps } = c.decode(downloadProgress, raw)
      transport.downloads.get(progressId)?.({ bytes, total: total > 0 ? total : null, speedBps })
    } catch {}
    return null
  })
  transport.rpc.respond<Buffer, null>('load', { requestEncoding: c.raw }, (raw) => {
    let report: LoadReport
    try {
      report = c.decode(loadReport, raw)
    } catch {
      return null
    }
    onload(report)
    return null
  })
}
