import { EventEmitter } from 'node:events'
import c from 'compact-encoding'
import type ProtomuxRPC from 'protomux-rpc'
import { QvacError } from './errors.ts'
import { CallGuard, type CallOptions } from './call-guard.ts'
import { callRpc } from './rpc-call.ts'
import {
  streamChunk,
  type DaemonStatus,
  type LoadModelRequest,
  type LoadModelResponse,
  type MethodName,
  type ModelConfig,
  type PingResponse,
  type RequestOf,
  type ResponseOf
} from './messages.ts'
import { InferStream, type InferInput, type InferOptions } from './infer-stream.ts'

/** One open channel to a daemon, as a connector makes it (swarm or control socket). */
export interface Connection {
  rpc: ProtomuxRPC
  /** The daemon's public key; null over the control socket. */
  remotePublicKey: Buffer | null
  destroy(): void
}

/** A connection in use by the client: with the infer streams running on it. */
export interface Transport extends Connection {
  streams: Map<number, InferStream>
}

/** Opens a connection; `signal` aborts when the client closes, so a pending connect stops at once. */
export type Connector = (signal: AbortSignal) => Promise<Connection>

export interface LoadModelInput {
  source: string
  /** Default 'llm' (the only type so far). */
  modelType?: string
  config?: ModelConfig
}

/**
 * A connection to a qvacd daemon with typed methods. It connects lazily and again after a drop:
 * a lost connection fails the calls in flight with CONNECTION_LOST, and the next call reconnects.
 *
 * Events: `connect` (transport), `disconnect` (transport).
 */
export class QvacClient extends EventEmitter {
  private readonly connector: Connector
  private readonly onclose: () => Promise<void>
  private current: Promise<Transport> | null = null
  private closed = false
  private readonly closing = new AbortController()
  private nextStreamId = 1

  constructor(connector: Connector, onclose: () => Promise<void> = async () => {}) {
    super()
    this.connector = connector
    this.onclose = onclose
  }

  /** Connects now (calls would connect anyway); rejects with CONNECT_FAILED or a version mismatch. */
  async ready(): Promise<Transport> {
    return this.connection()
  }

  ping(opts?: CallOptions): Promise<PingResponse> {
    return this.call('ping', null, opts)
  }

  status(opts?: CallOptions): Promise<DaemonStatus> {
    return this.call('status', null, opts)
  }

  /** Loads a model (or takes another reference to it) and returns its id, info and load stats. */
  loadModel(input: LoadModelInput, opts?: CallOptions): Promise<LoadModelResponse> {
    const request: LoadModelRequest = { source: input.source, modelType: input.modelType ?? 'llm', config: input.config ?? {} }
    return this.call('loadModel', request, opts)
  }

  /** Drops one reference; resolves with the references left (0: freed). */
  async unloadModel(modelId: string, opts?: CallOptions): Promise<number> {
    return (await this.call('unloadModel', { modelId }, opts)).references
  }

  /** Streams tokens; see InferStream. The timeout, if any, bounds the whole stream. */
  infer(input: InferInput, opts: InferOptions = {}): InferStream {
    return new InferStream(this.nextStreamId++, input, opts, () => this.connection())
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.closing.abort()
    const current = this.current
    this.current = null
    if (current) await current.then((t) => t.destroy(), () => {})
    await this.onclose()
  }

  private async call<M extends MethodName>(method: M, body: RequestOf<M>, opts?: CallOptions): Promise<ResponseOf<M>> {
    const guard = new CallGuard(opts)
    const transport = await guard.run(this.connection())
    return callRpc(transport.rpc, method, body, guard)
  }

  private connection(): Promise<Transport> {
    if (this.closed) return Promise.reject(new QvacError('CLIENT_CLOSED', 'the client is closed'))
    if (this.current) return this.current
    const pending = this.connector(this.closing.signal).then(
      (connection) => {
        if (this.closed) {
          connection.destroy()
          throw new QvacError('CLIENT_CLOSED', 'the client is closed')
        }
        const transport: Transport = { ...connection, streams: new Map() }
        receiveChunks(transport)
        const ondisconnect = () => {
          if (this.current === pending) this.current = null
          this.emit('disconnect', transport)
        }
        if (transport.rpc.closed) ondisconnect()
        else transport.rpc.on('close', ondisconnect)
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

/** Routes `infer.chunk` events to their stream; a malformed one is dropped, never thrown. */
function receiveChunks(transport: Transport): void {
  transport.rpc.respond<Buffer, null>('infer.chunk', { requestEncoding: c.raw }, (raw) => {
    try {
      const chunk = c.decode(streamChunk, raw)
      transport.streams.get(chunk.streamId)?.receive(chunk)
    } catch {}
    return null
  })
}
