import HyperDHT, { type BootstrapNode } from 'hyperdht'
import type { KeyPair } from 'hypercore-crypto'
import { createDht, parseBootstrap } from './dht.ts'
import { parseKey, topicFromName } from '../shared/keys.ts'
import { clientConnection, connectToDaemon } from './connect-daemon.ts'
import { QvacError } from '../shared/errors.ts'
import { QvacClient, openClient } from './qvac-client.ts'
import { DaemonSet } from './topic/daemon-set.ts'
import { Profiler } from './profiler/profiler.ts'
import { TopicClient } from './topic/topic-client.ts'

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
  /** By topic: connections kept to daemons at most (default 8; more found are sampled). */
  maxDaemons?: number
  /** By topic: a daemon silent this long counts as lost (default 4000 ms; daemons announce every second). */
  silenceTimeout?: number
}

/**
 * Connects over the swarm. By key (`peer`): to exactly that daemon. By topic: to the daemons
 * announcing it (up to `maxDaemons`), routing each call to the least-loaded one that fits and
 * failing over between them (client/topic/topic-client.ts); resolves once one is connected.
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
  const closeDht = async () => {
    if (ownsDht) await dht.destroy()
  }

  if (peer === undefined) {
    const connectTimeout = opts.connectTimeout ?? 15000
    // A NaN or infinite deadline is never reached: the set would look forever.
    if (!Number.isFinite(connectTimeout) || connectTimeout <= 0) {
      await closeDht()
      throw new QvacError('INVALID_ARGUMENT', `connect timeout must be a finite number of ms, got ${connectTimeout}`)
    }
    const daemons = new DaemonSet({
      dht,
      topic: topic as Buffer,
      keyPair,
      profiler: new Profiler(),
      maxDaemons: opts.maxDaemons,
      silenceTimeoutMs: opts.silenceTimeout,
      protocolVersion: opts.protocolVersion
    })
    return openClient(new TopicClient(daemons, { connectTimeout, onclose: closeDht }))
  }

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
    closeDht
  )
  return openClient(client)
}

function topicBytes(topic: Uint8Array): Buffer {
  if (topic.byteLength !== 32) throw new QvacError('INVALID_ARGUMENT', `a topic must be 32 bytes, got ${topic.byteLength}`)
  return Buffer.from(topic)
}
