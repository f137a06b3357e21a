import ProtomuxRPC from 'protomux-rpc'
import type { Duplex } from 'node:stream'
import { QvacError } from './errors.ts'
import { handshake as handshakeCodec, type Handshake, type PeerRole } from './messages.ts'
import { PROTOCOL_VERSION, RPC_PROTOCOL, SOFTWARE_VERSION } from './version.ts'

export interface RpcChannel {
  rpc: ProtomuxRPC
  /** Resolves with the remote handshake once the channel is open and versions match. */
  opened: Promise<Handshake>
}

/**
 * Opens the `qvac/rpc` channel on a connection (a swarm stream or a framed unix socket). The
 * handshake carries the protocol version; a mismatch rejects `opened` with
 * PROTOCOL_VERSION_MISMATCH on both sides and closes the channel, so neither side hangs.
 * Responders can be registered on `rpc` right away, before `opened` settles.
 */
export function openRpcChannel(
  stream: Duplex,
  opts: { role: PeerRole; protocolVersion?: number; openTimeoutMs?: number; refused?: boolean }
): RpcChannel {
  const local: Handshake = {
    protocolVersion: opts.protocolVersion ?? PROTOCOL_VERSION,
    softwareVersion: SOFTWARE_VERSION,
    role: opts.role
  }
  if (opts.refused) local.refused = true
  const rpc = new ProtomuxRPC(stream, {
    protocol: RPC_PROTOCOL,
    handshake: local,
    handshakeEncoding: handshakeCodec
  })

  const opened = new Promise<Handshake>((resolve, reject) => {
    const timer =
      opts.openTimeoutMs === undefined
        ? null
        : setTimeout(() => {
            cleanup()
            reject(
              new QvacError('CONNECT_FAILED', `the qvac/rpc channel did not open within ${opts.openTimeoutMs} ms`)
            )
            rpc.destroy()
          }, opts.openTimeoutMs)

    const onopen = (remote: Handshake) => {
      cleanup()
      if (remote.protocolVersion !== local.protocolVersion) {
        reject(
          new QvacError(
            'PROTOCOL_VERSION_MISMATCH',
            `protocol version mismatch: this side speaks ${local.protocolVersion}, the peer speaks ${remote.protocolVersion} (qvacd ${remote.softwareVersion})`,
            {
              details: {
                localVersion: local.protocolVersion,
                remoteVersion: remote.protocolVersion,
                remoteSoftwareVersion: remote.softwareVersion
              }
            }
          )
        )
        rpc.destroy()
        return
      }
      resolve(remote)
    }
    const onclose = () => {
      cleanup()
      reject(new QvacError('CONNECTION_LOST', 'the connection closed before the qvac/rpc channel opened'))
    }
    const cleanup = () => {
      if (timer) clearTimeout(timer)
      rpc.off('open', onopen)
      rpc.off('close', onclose)
    }
    rpc.on('open', onopen)
    rpc.on('close', onclose)
  })
  // Whoever awaits `opened` sees the rejection; an unobserved one must not crash the process.
  opened.catch(() => {})

  return { rpc, opened }
}
