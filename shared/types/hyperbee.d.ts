// The surface of hyperbee 2 (and of the hypercore sessions it and hyperdrive sit on) that qvacd uses.
declare module 'hyperbee' {
  import { EventEmitter } from 'node:events'
  import type { Encoding } from 'compact-encoding'

  /** A hypercore session, as `store.get()` returns it. */
  export interface Hypercore extends EventEmitter {
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly length: number
    readonly writable: boolean
    readonly peers: unknown[]
    ready(): Promise<void>
    close(): Promise<void>
    findingPeers(): () => void
    has(start: number, end?: number): Promise<boolean>
    clear(start: number, end?: number): Promise<unknown>
    on(event: 'download' | 'upload', listener: (index: number, byteLength: number) => void): this
    on(event: 'peer-add' | 'peer-remove', listener: () => void): this
  }

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
