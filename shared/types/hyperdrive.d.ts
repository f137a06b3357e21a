// The surface of hyperdrive 13 (and of its hyperblobs store) that qvacd uses.
declare module 'hyperdrive' {
  import type Corestore from 'corestore'
  import type Hypercore from 'hypercore'

  /** Where a file's bytes sit in the blobs core. */
  export interface BlobId {
    blockOffset: number
    blockLength: number
    byteOffset: number
    byteLength: number
    blockMap?: boolean
  }

  export interface DriveEntry {
    seq: number
    key: string
    value: { executable: boolean; linkname: string | null; blob: BlobId | null; metadata: unknown }
  }

  /** A streamx stream: async-iterable, destroyable, evented like a Node stream. */
  export interface BlobReadStream extends AsyncIterable<Buffer> {
    destroy(err?: Error): void
  }

  export interface BlobWriteStream {
    write(data: Uint8Array): boolean
    end(): void
    destroy(err?: Error): void
    once(event: 'drain' | 'close', listener: () => void): this
    once(event: 'error', listener: (err: Error) => void): this
  }

  export interface Hyperblobs {
    readonly core: Hypercore
    createReadStream(id: BlobId, opts?: { wait?: boolean; timeout?: number }): BlobReadStream
    getByteLength(id: BlobId): Promise<number>
  }

  export default class Hyperdrive {
    constructor(store: Corestore, key?: Buffer | null)
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly core: Hypercore
    readonly version: number
    /** Set once the drive is ready and its blobs core known. */
    readonly blobs: Hyperblobs | null
    ready(): Promise<void>
    close(): Promise<void>
    findingPeers(): () => void
    update(opts?: { wait?: boolean }): Promise<boolean>
    entry(name: string, opts?: { follow?: boolean }): Promise<DriveEntry | null>
    getBlobs(): Promise<Hyperblobs>
    createReadStream(name: string): BlobReadStream
    createWriteStream(name: string, opts?: { metadata?: unknown }): BlobWriteStream
    del(name: string): Promise<void>
  }
}
