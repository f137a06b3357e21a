import net from 'node:net'
import fs from 'node:fs/promises'
import FramedStream from 'framed-stream'
import ReadyResource from 'ready-resource'
import type ProtomuxRPC from 'protomux-rpc'
import { QvacError } from '../shared/errors.ts'
import { openRpcChannel } from '../shared/rpc-channel.ts'
import { PeerRole } from '../shared/messages.ts'
import type { Logger } from './log.ts'
import type { RpcRouter } from './rpc/router.ts'
import { listen } from './listen.ts'

/**
 * The local control endpoint: a unix socket in the storage dir speaking the same RPC as the
 * swarm, for `qvacd status` and other local tools. Access is guarded by the storage dir's mode.
 * `ready()` listens, `close()` ends every connection and removes the socket file (ready-resource).
 */
export class ControlSocket extends ReadyResource {
  private readonly path: string
  private readonly router: RpcRouter
  private readonly log: Logger
  private readonly server: net.Server
  private readonly channels = new Map<net.Socket, ProtomuxRPC>()

  constructor(opts: { path: string; router: RpcRouter; log: Logger }) {
    super()
    this.path = opts.path
    this.router = opts.router
    this.log = opts.log
    this.server = net.createServer((socket) => this.onconnection(socket))
  }

  /** Throws DAEMON_ALREADY_RUNNING if a daemon answers on the socket. */
  static async assertFree(socketPath: string): Promise<void> {
    if (await isAnswering(socketPath)) {
      throw new QvacError('DAEMON_ALREADY_RUNNING', 'a daemon is already running with this storage dir', {
        details: { socket: socketPath }
      })
    }
  }

  /** Listens, replacing a stale socket file left by a daemon that died. */
  protected async _open(): Promise<void> {
    await ControlSocket.assertFree(this.path)
    await fs.rm(this.path, { force: true })
    await listen(this.server, this.path)
  }

  protected async _close(): Promise<void> {
    const closed = new Promise((resolve) => this.server.close(resolve))
    await Promise.all([...this.channels.values()].map((rpc) => rpc.end().catch(() => {})))
    for (const socket of this.channels.keys()) socket.destroy()
    await closed
    await fs.rm(this.path, { force: true })
  }

  private onconnection(socket: net.Socket): void {
    const stream = new FramedStream(socket)
    const { rpc } = openRpcChannel(stream, { role: PeerRole.DAEMON })
    this.router.attach(rpc, { publicKey: null, connectedAt: Date.now(), calls: 0, inFlight: 0 })
    this.channels.set(socket, rpc)
    stream.on('error', (err: Error) => this.log.debug(`control connection: ${err.message}`))
    socket.on('close', () => this.channels.delete(socket))
  }
}

function isAnswering(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
}
