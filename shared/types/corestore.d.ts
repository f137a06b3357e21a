declare module 'corestore' {
  import type { KeyPair } from 'hypercore-crypto'
  import type { Duplex } from 'node:stream'
  import type Hypercore from 'hypercore'

  export default class Corestore {
    constructor(storage: string, opts?: object)
    ready(): Promise<void>
    close(): Promise<void>
    createKeyPair(name: string): Promise<KeyPair>
    replicate(stream: Duplex): Duplex
    /** The sessions and cores drives and the registry use. */
    get(opts: { key?: Buffer; name?: string }): Hypercore
    session(): Corestore
    namespace(name: string): Corestore
    findingPeers(): () => void
  }
}
