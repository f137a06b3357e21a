import HyperDHT, { type BootstrapNode } from 'hyperdht'
import type { KeyPair } from 'hypercore-crypto'
import { createDht, parseBootstrap } from './dht.ts'
import { parseKey, topicFromName } from '../shared/keys.ts'
import { clientConnection, connectToDaemon } from './connect-daemon.ts'
import { QvacError } from '../shared/errors.ts'
import { QvacClient, openClient } from './qvac-client.ts'

export interface ConnectOptions {
  /** A topic name as given to `qvacd start --topic`, or a 32-byte topic. */
  topic?: string | Uint8Array
  /** A daemon's public key (z32 or hex): connect to exactly that daemon. */
  peer?: string | Uint8Array
  /** DHT bootstrap nodes (`host:port` strings or objects); omitted means the public HyperDHT. */
  bootstrap?: string | Array<string | BootstrapNode>
  /** This client's identity (what a daemon's allowlist names); a fresh one by default. */
  keyPair?: KeyPair
  /** An existing DHT node to use; the client then leaves it open on close. */
  dht?: HyperDHT
  /** Milliseconds to find and reach a daemon before CONNECT_FAILED (default 15000). */
  connectTimeout?: number
  /** Overrides the protocol version spoken (compatibility tests only). */
  protocolVersion?: number
}

/**
 * Connects to a daemon over the swarm, by topic or by key, and resolves once the first daemon
 * answers the handshake. With several daemons on a topic the first to answer is used.
 */
export async function connect(opts: ConnectOptions): Promise<QvacClient> {
  if (opts.topic === undefined && opts.peer === undefined) {
    throw new QvacError('INVALID_ARGUMENT', 'connect needs a topic or a peer key')
  }
  const topic = opts.topic === undefined ? undefined : typeof opts.topic === 'string' ? topicFromName(opts.topic) : topicBytes(opts.topic)
  const peer = opts.peer === undefined ? undefined : parseKey(opts.peer, 'peer key')
  const bootstrap = opts.bootstrap === undefined ? undefined : parseBootstrap(opts.bootstrap)
  const keyPair = opts.keyPair ?? HyperDHT.keyPair()
  const dht = opts.dht ?? createDht({ bootstrap, keyPair })
  const ownsDht = opts.dht === undefined

  const client = new QvacClient(
    async (signal) => {
      const conn = await connectToDaemon(dht, {
        signal,
        topic,
        peer,
        keyPair,
        timeoutMs: opts.connectTimeout ?? 15000,
        protocolVersion: opts.protocolVersion
      })
      return clientConnection(conn)
    },
    async () => {
      if (ownsDht) await dht.destroy()
    }
  )
  return openClient(client)
}

function topicBytes(topic: Uint8Array): Buffer {
  if (topic.byteLength !== 32) throw new QvacError('INVALID_ARGUMENT', `a topic must be 32 bytes, got ${topic.byteLength}`)
  return Buffer.from(topic)
}
