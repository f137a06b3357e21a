// The surface of hyperbee 2 that qvacd uses.
declare module 'hyperbee' {
  import type Hypercore from 'hypercore'
  import type { Encoder as Encoding } from 'compact-encoding'

  export interface BeeNode<K, V> {
    seq: number
    key: K
    value: V
  }

  export default class Hyperbee<K = string, V = unknown> {
    constructor(core: Hypercore, opts?: { keyEncoding?: 'utf-8'; valueEncoding?: Encoding<V> })
    readonly core: Hypercore
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly writable: boolean
    ready(): Promise<void>
    close(): Promise<void>
    update(opts?: { wait?: boolean }): Promise<boolean>
    get(key: K): Promise<BeeNode<K, V> | null>
    put(key: K, value: V): Promise<void>
    createReadStream(range?: { gt?: K; gte?: K; lt?: K; lte?: K }): AsyncIterable<BeeNode<K, V>>
  }
}
