declare module 'hyperdht' {
  import { EventEmitter } from 'node:events'
  import type { Duplex } from 'node:stream'
  import type { KeyPair } from 'hypercore-crypto'

  export interface BootstrapNode {
    host: string
    port: number
  }

  /** @hyperswarm/secret-stream's NoiseSecretStream: the encrypted connection to a peer. */
  export interface SecretStream extends Duplex {
    publicKey: Buffer
    remotePublicKey: Buffer
    rawStream: { remoteHost?: string; remotePort?: number }
    userData: unknown
    opened: Promise<boolean>
    /** True on the side that dialed. */
    isInitiator: boolean
    setTimeout(ms: number): void
    setKeepAlive(ms: number): void
  }

  export interface LookupReply {
    peers: Array<{ publicKey: Buffer; relayAddresses: BootstrapNode[] }>
  }

  export interface DHTOptions {
    bootstrap?: Array<string | BootstrapNode>
    host?: string
    port?: number
    keyPair?: KeyPair
    ephemeral?: boolean
    firewalled?: boolean
  }

  export default class HyperDHT extends EventEmitter {
    constructor(opts?: DHTOptions)
    static keyPair(seed?: Uint8Array): KeyPair
    static bootstrapper(port: number, host: string, opts?: DHTOptions): HyperDHT
    defaultKeyPair: KeyPair
    destroyed: boolean
    ready(): Promise<void>
    fullyBootstrapped(): Promise<void>
    address(): { host: string; port: number }
    connect(
      publicKey: Uint8Array,
      opts?: { keyPair?: KeyPair; relayAddresses?: BootstrapNode[] }
    ): SecretStream
    lookup(topic: Uint8Array): AsyncIterable<LookupReply> & { destroy(): void }
    destroy(opts?: { force?: boolean }): Promise<void>
  }
}

declare module 'hyperdht/testnet.js' {
  import type HyperDHT from 'hyperdht'
  import type { BootstrapNode } from 'hyperdht'

  export interface Testnet {
    nodes: HyperDHT[]
    bootstrap: BootstrapNode[]
    destroy(): Promise<void>
  }
  export default function createTestnet(
    size?: number,
    opts?: { host?: string; port?: number; teardown?: (fn: () => Promise<void>, opts?: object) => void }
  ): Promise<Testnet>
}
