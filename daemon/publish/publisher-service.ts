import net from 'node:net'
import fs from 'node:fs/promises'
import path from 'node:path'
import c, { type Encoder as Encoding } from 'compact-encoding'
import FramedStream from 'framed-stream'
import type ProtomuxRPC from 'protomux-rpc'
import { QvacError, toWireError } from '../../shared/errors.ts'
import { openRpcChannel } from '../../shared/rpc-channel.ts'
import {
  PeerRole,
  publisherMethods,
  responseFrame,
  type PublisherMethodName,
  type PublisherRequestOf,
  type PublisherResponseOf
} from '../../shared/messages.ts'
import type { Publisher } from './publisher.ts'
import { publishRequest } from './publish-request.ts'
import { listen } from '../listen.ts'

/** The socket a seeding `qvacd publish` listens on, in the storage dir. */
export function publisherSocketPath(storage: string): string {
  return path.join(path.resolve(storage), 'publisher.sock')
}

type Handlers = { [M in PublisherMethodName]: (request: PublisherRequestOf<M>) => Promise<PublisherResponseOf<M>> }

/**
 * While `qvacd publish` seeds it holds the publisher store (a corestore is one process's). Other
 * publish and registry commands on the same storage send their work here instead, and it runs on
 * the open store: publishing and registry edits never wait for the seeder to stop. Same machine
 * and user only (the socket sits in the storage dir); every request is decoded and handled inside
 * one try, so a bad one gets a typed error and the seeder keeps going.
 */
export class PublisherService {
  private readonly path: string
  private readonly server: net.Server
  private readonly channels = new Set<ProtomuxRPC>()
  private readonly handlers: Handlers

  constructor(opts: { storage: string; publisher: Publisher }) {
    this.path = publisherSocketPath(opts.storage)
    const p = opts.publisher
    this.handlers = {
      publishFile: (request) => p.publish(request.file, publishRequest(request)).then(toResponse),
      registryCreate: async () => ({ key: (await p.ownRegistry()).key }),
      registryAdd: async ({ name, value }) => {
        const { name: added, ...stored } = await p.addToRegistry(name, value)
        return { name: added, value: stored }
      },
      registryList: async ({ key, timeoutMs }) =>
        (await p.listRegistry(key, timeoutMs)).map(({ name, ...value }) => ({ name, value }))
    }
    this.server = net.createServer((socket) => this.onconnection(socket))
  }

  async listen(): Promise<void> {
    await fs.rm(this.path, { force: true })
    await listen(this.server, this.path)
  }

  async close(): Promise<void> {
    const closed = new Promise((resolve) => this.server.close(resolve))
    for (const rpc of this.channels) rpc.destroy()
    await closed
    await fs.rm(this.path, { force: true })
  }

  private onconnection(socket: net.Socket): void {
    const stream = new FramedStream(socket)
    stream.on('error', () => {})
    const { rpc } = openRpcChannel(stream, { role: PeerRole.DAEMON })
    this.channels.add(rpc)
    rpc.on('close', () => this.channels.delete(rpc))
    for (const method of Object.keys(publisherMethods) as PublisherMethodName[]) {
      rpc.respond<Buffer, Buffer>(method, { requestEncoding: c.raw, responseEncoding: c.raw }, (raw) => this.dispatch(method, raw))
    }
  }

  private async dispatch<M extends PublisherMethodName>(method: M, raw: Buffer): Promise<Buffer> {
    const codecs = publisherMethods[method]
    const frame = responseFrame(codecs.response as Encoding<PublisherResponseOf<M>>)
    try {
      let request: PublisherRequestOf<M>
      try {
        request = c.decode(codecs.request as Encoding<PublisherRequestOf<M>>, raw)
      } catch (err) {
        throw new QvacError('INVALID_REQUEST', `malformed ${method} request: ${(err as Error).message}`)
      }
      const value = await (this.handlers[method] as (r: PublisherRequestOf<M>) => Promise<PublisherResponseOf<M>>)(request)
      return c.encode(frame, { ok: true, value }) as Buffer
    } catch (err) {
      return c.encode(frame, { ok: false, error: toWireError(err) }) as Buffer
    }
  }
}

function toResponse(published: Awaited<ReturnType<Publisher['publish']>>): PublisherResponseOf<'publishFile'> {
  return {
    uri: published.uri,
    key: published.key,
    size: published.size,
    sha256: published.sha256,
    written: published.written,
    entry: published.entry
  }
}
