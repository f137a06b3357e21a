declare module 'protomux-rpc' {
  import { EventEmitter } from 'node:events'
  import type { Duplex } from 'node:stream'
  import type { Encoder as Encoding } from 'compact-encoding'

  export interface MethodEncodings {
    requestEncoding?: Encoding<any>
    responseEncoding?: Encoding<any>
  }

  /** Errors protomux-rpc raises itself; `code` is one of its names (CHANNEL_CLOSED, UNKNOWN_METHOD, …). */
  export interface RPCError extends Error {
    code: string
  }

  export default class ProtomuxRPC extends EventEmitter {
    constructor(
      stream: Duplex,
      opts?: {
        protocol?: string
        id?: Uint8Array
        handshake?: unknown
        handshakeEncoding?: Encoding<any>
        valueEncoding?: Encoding<any>
      }
    )
    readonly opened: boolean
    readonly closed: boolean
    readonly stream: Duplex
    respond<Req, Res>(
      method: string,
      opts: MethodEncodings,
      handler: (value: Req) => Promise<Res> | Res
    ): this
    request<Res>(
      method: string,
      value: unknown,
      opts?: MethodEncodings & { timeout?: number }
    ): Promise<Res>
    event(method: string, value: unknown, opts?: MethodEncodings): void
    end(): Promise<void>
    destroy(err?: Error): void
    on(event: 'open', listener: (handshake: any) => void): this
    on(event: 'close' | 'destroy', listener: () => void): this
  }
}
