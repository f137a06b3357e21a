import c from 'compact-encoding'
import type ProtomuxRPC from 'protomux-rpc'
import { QvacError } from '../../shared/errors.ts'
import { streamCredit } from '../../shared/messages.ts'
import { OutboundStream, type OutboundStreamOptions } from './outbound-stream.ts'

/**
 * The infer streams open on one connection, by the id the client chose. Listens for the client's
 * `infer.credit` events; a malformed one is dropped, never thrown (protomux-rpc would rethrow it
 * as an uncaught exception).
 */
export class StreamTable {
  private readonly rpc: ProtomuxRPC
  private readonly streams = new Map<number, OutboundStream>()

  constructor(rpc: ProtomuxRPC) {
    this.rpc = rpc
    rpc.respond<Buffer, null>('infer.credit', { requestEncoding: c.raw }, (raw) => {
      try {
        const { streamId, credits } = c.decode(streamCredit, raw)
        this.streams.get(streamId)?.credit(credits)
      } catch {}
      return null
    })
  }

  open(opts: Omit<OutboundStreamOptions, 'rpc'>): OutboundStream {
    if (this.streams.has(opts.streamId)) {
      throw new QvacError('INVALID_REQUEST', `stream id ${opts.streamId} is already in use on this connection`, {
        details: { streamId: opts.streamId }
      })
    }
    const stream = new OutboundStream({ ...opts, rpc: this.rpc })
    this.streams.set(opts.streamId, stream)
    return stream
  }

  get(streamId: number): OutboundStream | undefined {
    return this.streams.get(streamId)
  }

  delete(stream: OutboundStream): void {
    stream.close()
    if (this.streams.get(stream.streamId) === stream) this.streams.delete(stream.streamId)
  }

  values(): IterableIterator<OutboundStream> {
    return this.streams.values()
  }
}
