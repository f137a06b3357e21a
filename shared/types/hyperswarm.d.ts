declare module 'hyperswarm' {
  import { EventEmitter } from 'node:events'
  import type HyperDHT from 'hyperdht'
  import type { SecretStream } from 'hyperdht'
  import type { KeyPair } from 'hypercore-crypto'

  export interface PeerInfo {
    publicKey: Buffer
    topics: Buffer[]
    client: boolean
  }

  export interface PeerDiscovery {
    flushed(): Promise<void>
    destroy(): Promise<void>
    /** A fresh lookup (used when every seeder of a drive left). */
    refresh(opts?: { client?: boolean; server?: boolean }): Promise<void>
  }

  export default class Hyperswarm extends EventEmitter {
    constructor(opts?: {
      dht?: HyperDHT
      keyPair?: KeyPair
      /** `payload` is null for connections this swarm dials itself. */
      firewall?: (remotePublicKey: Buffer, payload: unknown) => boolean
    })
    keyPair: KeyPair
    dht: HyperDHT
    connections: Set<SecretStream>
    join(topic: Uint8Array, opts?: { server?: boolean; client?: boolean }): PeerDiscovery
    leave(topic: Uint8Array): Promise<void>
    flush(): Promise<void>
    destroy(): Promise<void>
    on(event: 'connection', listener: (conn: SecretStream, info: PeerInfo) => void): this
  }
}
