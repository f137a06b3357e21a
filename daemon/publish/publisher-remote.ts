import net from 'node:net'
import c, { type Encoder as Encoding } from 'compact-encoding'
import FramedStream from 'framed-stream'
import type ProtomuxRPC from 'protomux-rpc'
import { QvacError } from '../../shared/errors.ts'
import { openRpcChannel } from '../../shared/rpc-channel.ts'
import {
  PeerRole,
  publisherMethods,
  responseFrame,
  type PublishFileRequest,
  type PublishFileResponse,
  type PublisherMethodName,
  type PublisherRequestOf,
  type PublisherResponseOf,
  type RegistryEntryValue
} from '../../shared/messages.ts'
import type { RegistryEntry } from '../registry/registry.ts'
import type { PublisherApi } from './publisher-api.ts'

/** The seeding `qvacd publish` of a storage dir, reached through its socket (PublisherService). */
export class PublisherRemote implements PublisherApi {
  readonly via = 'seeder'
  private readonly rpc: ProtomuxRPC
  private readonly stream: FramedStream

  private constructor(stream: FramedStream, rpc: ProtomuxRPC) {
    this.stream = stream
    this.rpc = rpc
  }

  /** Null when nothing answers on the socket (no seeder running). */
  static async connect(socketPath: string): Promise<PublisherRemote | null> {
    const socket = await new Promise<net.Socket | null>((resolve) => {
      const s = net.connect(socketPath)
      s.once('connect', () => resolve(s))
      s.once('error', () => resolve(null))
    })
    if (!socket) return null
    const stream = new FramedStream(socket)
    stream.on('error', () => {})
    const { rpc, opened } = openRpcChannel(stream, { role: PeerRole.CLIENT, openTimeoutMs: 5000 })
    try {
      await opened
    } catch {
      stream.destroy()
      return null
    }
    return new PublisherRemote(stream, rpc)
  }

  publish(request: PublishFileRequest): Promise<PublishFileResponse> {
    return this.call('publishFile', request)
  }

  async registryKey(): Promise<Buffer> {
    return (await this.call('registryCreate', null)).key
  }

  async addToRegistry(name: string, value: RegistryEntryValue): Promise<RegistryEntry> {
    const added = await this.call('registryAdd', { name, value })
    return { name: added.name, ...added.value }
  }

  async listRegistry(key: Buffer | undefined, timeoutMs: number): Promise<RegistryEntry[]> {
    return (await this.call('registryList', { key, timeoutMs })).map(({ name, value }) => ({ name, ...value }))
  }

  async close(): Promise<void> {
    this.stream.end()
  }

  private async call<M extends PublisherMethodName>(method: M, body: PublisherRequestOf<M>): Promise<PublisherResponseOf<M>> {
    const codecs = publisherMethods[method]
    let raw: Buffer
    try {
      raw = await this.rpc.request<Buffer>(method, c.encode(codecs.request as Encoding<PublisherRequestOf<M>>, body), {
        requestEncoding: c.raw,
        responseEncoding: c.raw
      })
    } catch (err) {
      throw new QvacError('CONNECTION_LOST', `the seeding qvacd publish did not answer ${method}: ${(err as Error).message}`, { cause: err })
    }
    const frame = c.decode(responseFrame(codecs.response as Encoding<PublisherResponseOf<M>>), raw)
    if (!frame.ok) throw QvacError.fromWire(frame.error)
    return frame.value
  }
}
