import { once } from 'node:events'
import ReadyResource from 'ready-resource'
import Hyperswarm, { type PeerDiscovery } from 'hyperswarm'
import type HyperDHT from 'hyperdht'
import type { SecretStream } from 'hyperdht'
import type { KeyPair } from 'hypercore-crypto'
import type ProtomuxRPC from 'protomux-rpc'
import type Corestore from 'corestore'
import b4a from 'b4a'
import { openRpcChannel } from '../shared/rpc-channel.ts'
import { PeerRole, type PeerStatus } from '../shared/messages.ts'
import { formatKey } from '../shared/keys.ts'
import { isQvacError } from '../shared/errors.ts'
import type { Logger } from './log.ts'
import type { CallerInfo, RpcRouter } from './rpc/router.ts'
import { peerText } from './peer-text.ts'
import { DEFAULT_IDLE_TIMEOUT_MS, keepAlive } from '../client/connect-daemon.ts'

const GRACEFUL_CLOSE_MS = 1500
const REFUSED_LINGER_MS = 2000

interface PeerConnection {
  conn: SecretStream
  rpc: ProtomuxRPC
  caller: CallerInfo
  accepted: boolean
}

/**
 * The daemon's presence on the swarm: announces the topic as a server, refuses incoming peers
 * outside the allowlist at the DHT handshake (before any channel or handler exists), and serves
 * the RPC channel on every allowed connection. Every connection replicates the store.
 *
 * Events: `peer-joined` (key), `peer-left` (key), `peer-refused` (key), `protocol-mismatch` (key, err).
 */
export class SwarmHost extends ReadyResource {
  readonly swarm: Hyperswarm
  private readonly topic: Buffer
  private readonly allow: Buffer[]
  private readonly router: RpcRouter
  private readonly log: Logger
  private readonly protocolVersion: number | undefined
  private readonly store: Corestore
  private readonly connections = new Map<SecretStream, PeerConnection>()
  private readonly idleTimeoutMs: number
  private discovery: PeerDiscovery | null = null

  constructor(opts: {
    dht: HyperDHT
    keyPair: KeyPair
    /** Replicated on every accepted connection: drives and the registry travel beside the RPC. */
    store: Corestore
    topic: Buffer
    allow: Buffer[]
    router: RpcRouter
    log: Logger
    protocolVersion?: number
    /** An RPC peer silent for this long is dropped, its calls and streams ended. */
    idleTimeoutMs?: number
  }) {
    super()
    this.topic = opts.topic
    this.allow = opts.allow
    this.router = opts.router
    this.log = opts.log
    this.protocolVersion = opts.protocolVersion
    this.store = opts.store
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    // No DHT-level firewall: a peer refused there only sees its connect time out (~3 s, then
    // retries). Refused peers are let in and told so in the handshake instead (onconnection).
    this.swarm = new Hyperswarm({ dht: opts.dht, keyPair: opts.keyPair })
    this.swarm.on('connection', (conn) => this.onconnection(conn))
  }

  protected async _open(): Promise<void> {
    try {
      this.discovery = this.swarm.join(this.topic, { server: true, client: false })
      await this.discovery.flushed()
    } catch (err) {
      // ready-resource runs no _close after a failed _open: the swarm is ours to destroy.
      await this.swarm.destroy()
      throw err
    }
  }

  peers(): PeerStatus[] {
    const peers: PeerStatus[] = []
    for (const { conn, caller, accepted } of this.connections.values()) {
      if (!accepted) continue
      peers.push({
        publicKey: conn.remotePublicKey,
        connectedAt: caller.connectedAt,
        calls: caller.calls,
        inFlight: caller.inFlight
      })
    }
    return peers
  }

  /** The RPC channels of the peers that passed the handshake (where load reports go). */
  *channels(): Generator<ProtomuxRPC> {
    for (const { rpc, accepted } of this.connections.values()) if (accepted) yield rpc
  }

  /** Leaves the topic, lets answered calls flush, then closes every connection and the DHT. */
  protected async _close(): Promise<void> {
    if (this.discovery) await this.discovery.destroy()
    const ending = [...this.connections.values()].map(async ({ conn, rpc }) => {
      await withTimeout(rpc.end(), GRACEFUL_CLOSE_MS)
      const closed = once(conn, 'close').catch(() => {})
      conn.end()
      await withTimeout(closed, GRACEFUL_CLOSE_MS)
    })
    await Promise.all(ending)
    await this.swarm.destroy()
  }

  private allowed(remotePublicKey: Buffer): boolean {
    return this.allow.length === 0 || this.allow.some((key) => b4a.equals(key, remotePublicKey))
  }

  /**
   * A peer outside the allowlist: no handler, no replication, only a handshake saying it is
   * refused (the client's CONNECT_REFUSED), then the connection ends.
   */
  private refuse(conn: SecretStream, key: string): void {
    this.log.info(`refused peer ${key}: not in the allowlist`)
    this.emit('peer-refused', key)
    const { rpc, opened } = openRpcChannel(conn, { role: PeerRole.DAEMON, protocolVersion: this.protocolVersion, refused: true })
    const close = () => {
      clearTimeout(timer)
      conn.end()
    }
    // Long enough for the handshake to leave; a peer that never opens the channel is cut anyway.
    const timer = setTimeout(() => conn.destroy(), REFUSED_LINGER_MS)
    opened.then(() => rpc.end().then(close, close), close)
    conn.on('close', () => clearTimeout(timer))
  }

  private onconnection(conn: SecretStream): void {
    const key = formatKey(conn.remotePublicKey)
    conn.on('error', (err: Error & { code?: string }) => this.log.debug(`connection to ${key}: ${peerText(err.code ?? err.message)}`))
    if (!this.allowed(conn.remotePublicKey)) {
      if (!conn.isInitiator) return this.refuse(conn, key)
      // A seeder this daemon dialed for a drive: it replicates, it does not get to call anything.
      this.store.replicate(conn)
      return
    }
    const caller: CallerInfo = { publicKey: conn.remotePublicKey, connectedAt: Date.now(), calls: 0, inFlight: 0 }
    const { rpc, opened } = openRpcChannel(conn, { role: PeerRole.DAEMON, protocolVersion: this.protocolVersion })
    const peer: PeerConnection = { conn, rpc, caller, accepted: false }
    this.connections.set(conn, peer)
    this.router.attach(rpc, caller)
    this.store.replicate(conn)

    conn.on('close', () => {
      this.connections.delete(conn)
      if (!peer.accepted) return
      this.log.debug(`peer left ${key}`)
      this.emit('peer-left', key)
    })

    opened.then(
      (remote) => {
        // A qvacd peer keeps alive every second: one silent for the idle timeout is gone (SIGKILL,
        // cable pulled), and closing its connection ends its calls and frees its sequences.
        keepAlive(conn, this.idleTimeoutMs)
        peer.accepted = true
        this.log.info(`peer joined ${key} (qvacd ${peerText(remote.softwareVersion)})`)
        this.emit('peer-joined', key)
      },
      (err: Error) => {
        // The connection stays: a peer without qvac/rpc (a drive seeder, say) still replicates.
        if (isQvacError(err, 'PROTOCOL_VERSION_MISMATCH')) {
          this.log.info(`refused qvac/rpc from ${key}: ${peerText(err.message)}`)
          this.emit('protocol-mismatch', key, err)
        }
      }
    )
  }
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise.catch(() => {}),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms)
    })
  ]).finally(() => clearTimeout(timer))
}
