import { EventEmitter } from 'node:events'
import type ProtomuxRPC from 'protomux-rpc'
import { QvacError } from '../shared/errors.ts'
import { CallGuard, type CallOptions } from '../shared/call-guard.ts'
import { callRpc } from '../shared/rpc-call.ts'
import type { DaemonStatus, MethodName, PingResponse, RequestOf, ResponseOf } from '../shared/messages.ts'

/** One open channel to a daemon, however it was reached (swarm or control socket). */
export interface Transport {
  rpc: ProtomuxRPC
  /** The daemon's public key; null over the control socket until `status` tells it. */
  remotePublicKey: Buffer | null
  destroy(): void
}

/** Opens a transport; `signal` aborts when the client closes, so a pending connect stops at once. */
export type Connector = (signal: AbortSignal) => Promise<Transport>

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
      (transport) => {
        if (this.closed) {
          transport.destroy()
          throw new QvacError('CLIENT_CLOSED', 'the client is closed')
        }
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
