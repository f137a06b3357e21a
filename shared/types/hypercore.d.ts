// The surface of a hypercore 11 session (as corestore's get() returns it) that qvacd uses.
declare module 'hypercore' {
  import type { EventEmitter } from 'node:events'

  /** A hypercore session, as `store.get()` returns it. */
  export default interface Hypercore extends EventEmitter {
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
}
