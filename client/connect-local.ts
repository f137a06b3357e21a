import net from 'node:net'
import FramedStream from 'framed-stream'
import { QvacError } from '../shared/errors.ts'
import { controlSocketPath } from '../shared/control-path.ts'
import { openRpcChannel } from '../shared/rpc-channel.ts'
import { PeerRole } from '../shared/messages.ts'
import { QvacClient, openClient } from './qvac-client.ts'

/**
 * Connects to the daemon that owns a storage dir, through its control socket. No daemon there:
 * DAEMON_NOT_RUNNING.
 */
export async function connectLocal(opts: { storage: string; timeout?: number }): Promise<QvacClient> {
  const socketPath = controlSocketPath(opts.storage)
  const client = new QvacClient(async () => {
    const socket = await openSocket(socketPath)
    const stream = new FramedStream(socket)
    stream.on('error', () => {}) // a broken socket shows as the channel closing
    const { rpc, opened } = openRpcChannel(stream, { role: PeerRole.CLIENT, openTimeoutMs: opts.timeout ?? 5000 })
    try {
      await opened
    } catch (err) {
      stream.destroy()
      throw err
    }
    return { rpc, remotePublicKey: null, destroy: () => stream.end() }
  })
  return openClient(client)
}

function openSocket(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath)
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const notRunning = err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
      reject(
        notRunning
          ? new QvacError('DAEMON_NOT_RUNNING', `no daemon is running with storage dir ${socketPath.slice(0, -'/qvacd.sock'.length)}`, {
              details: { socket: socketPath }
            })
          : new QvacError('CONNECT_FAILED', `control socket ${socketPath}: ${err.code ?? err.message}`, { cause: err })
      )
    })
  })
}
