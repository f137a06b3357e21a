import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const HEX_SHA256 = /^[0-9a-f]{64}$/

/** Hashing reads the file in steps of this size... */
export const HASH_STEP_BYTES = 1024 * 1024
/** ...and, while the daemon serves a stream, waits this long between steps. */
export const BUSY_STEP_INTERVAL_MS = 50

/**
 * The SHA-256 of model files, computed once per path in the background. A file in the
 * content-addressed cache is named by its hash already; any other file is hashed as a stream:
 * at full speed while the daemon is idle, one step per BUSY_STEP_INTERVAL_MS while `busy()` says
 * a stream is served (about 1% of a core; 20 MiB/s), so it always completes but never competes
 * with inference. At full speed, hashing a just-loaded 241 MB model on the main thread overlapped
 * the first streams (their TTFT swung by 10 ms on 2 cores).
 */
export class FileHashes {
  private readonly known = new Map<string, string>()
  private readonly pending = new Set<string>()
  private readonly busy: () => boolean

  constructor(opts: { busy?: () => boolean } = {}) {
    this.busy = opts.busy ?? (() => false)
  }

  /** The hash if known; '' while it is being computed (or when the file cannot be read). */
  get(file: string | undefined): string {
    if (!file) return ''
    const known = this.known.get(file)
    if (known !== undefined) return known
    const name = path.basename(file)
    if (HEX_SHA256.test(name)) {
      this.known.set(file, name)
      return name
    }
    if (!this.pending.has(file)) this.hash(file)
    return ''
  }

  private hash(file: string): void {
    this.pending.add(file)
    const digest = crypto.createHash('sha256')
    const stream = fs.createReadStream(file, { highWaterMark: HASH_STEP_BYTES })
    stream
      .on('data', (chunk) => {
        digest.update(chunk)
        if (!this.busy()) return
        stream.pause()
        setTimeout(() => stream.resume(), BUSY_STEP_INTERVAL_MS).unref()
      })
      .on('end', () => {
        this.pending.delete(file)
        this.known.set(file, digest.digest('hex'))
      })
      .on('error', () => {
        this.pending.delete(file)
        this.known.set(file, '')
      })
  }
}
