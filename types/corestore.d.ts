declare module 'corestore' {
  import type { KeyPair } from 'hypercore-crypto'
  import type { Duplex } from 'node:stream'

  export default class Corestore {
    constructor(storage: string, opts?: object)
    ready(): Promise<void>
    close(): Promise<void>
    createKeyPair(name: string): Promise<KeyPair>
    replicate(stream: Duplex): Duplex
  }
}
