declare module 'framed-stream' {
  import { Duplex } from 'node:stream'
  /** Length-prefixed message framing over a byte stream (a unix socket), as Protomux needs. */
  export default class FramedStream extends Duplex {
    constructor(rawStream: Duplex, opts?: { bits?: 8 | 16 | 24 | 32 })
  }
}
