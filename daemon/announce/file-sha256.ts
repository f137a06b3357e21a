import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const HEX_SHA256 = /^[0-9a-f]{64}$/

/**
 * The SHA-256 of model files, computed once per path in the background. A file in the
 * content-addressed cache is named by its hash already; any other file is hashed as a stream.
 */
export class FileHashes {
  private readonly known = new Map<string, string>()
  private readonly pending = new Set<string>()

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
    fs.createReadStream(file)
      .on('data', (chunk) => digest.update(chunk))
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
