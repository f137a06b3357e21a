import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const HEX_SHA256 = /^[0-9a-f]{64}$/

/** Hashing reads the file in steps of this size... */
export const HASH_STEP_BYTES = 1024 * 1024
/** ...and, while the daemon serves a stream, waits this long between steps. */
export const BUSY_STEP_INTERVAL_MS = 50

/** Hashes kept across restarts, the most recently hashed files first. */
const MAX_RECORDED = 256

/** A file changed this recently is not kept: timestamps move in coarse steps. */
const RACY_MS = 2000

/** What identifies a file's content without reading it: a write changes ctime, which no one can set. */
function identity(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
}

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
  /** Where hashes are kept across restarts (`<storage>/file-hashes.json`), by path and identity. */
  private readonly recordFile: string | null
  /** The record as read once; every reader and writer shares this one object. */
  private record: Promise<Record<string, { id: string; sha256: string }>> | null = null
  private writes: Promise<void> = Promise.resolve()

  constructor(opts: { busy?: () => boolean; recordFile?: string } = {}) {
    this.busy = opts.busy ?? (() => false)
    this.recordFile = opts.recordFile ?? null
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
    void this.recorded(file)
      .catch(() => null)
      .then((found) => {
        if (found === null) return this.hashFile(file)
        this.pending.delete(file)
        this.known.set(file, found)
      })
      .catch(() => {
        this.pending.delete(file)
        this.known.set(file, '')
      })
  }

  /** The hash kept from an earlier run if the file is still the same one, unchanged. */
  private async recorded(file: string): Promise<string | null> {
    if (this.recordFile === null) return null
    const kept = (await (this.record ??= readRecord(this.recordFile)))[file]
    if (!kept) return null
    const st = await fs.promises.stat(file, { bigint: true })
    return kept.id === identity(st) ? kept.sha256 : null
  }

  /** Keeps a hash for the next run, written whole (temporary file and rename) or not at all. */
  private keep(file: string, id: string, sha256: string): Promise<void> {
    const recordFile = this.recordFile
    if (recordFile === null) return Promise.resolve()
    this.writes = this.writes.then(async () => {
      const record = await (this.record ??= readRecord(recordFile))
      delete record[file] // re-inserted last: the oldest entries go first past MAX_RECORDED
      record[file] = { id, sha256 }
      const files = Object.keys(record)
      for (const old of files.slice(0, Math.max(0, files.length - MAX_RECORDED))) delete record[old]
      const tmp = `${recordFile}.${process.pid}.tmp`
      await fs.promises.writeFile(tmp, JSON.stringify(record), { mode: 0o600 })
      await fs.promises.rename(tmp, recordFile)
    }).catch(() => {})
    return this.writes
  }

  /**
   * Keeps the hash only if the file's identity was the same before and after reading it, and its
   * last change is older than the clock's coarse steps ("racy git"): a write in the same tick as
   * the first stat could leave the identity unchanged with other bytes.
   */
  private async keepIfSettled(file: string, before: string | null, sha256: string): Promise<void> {
    const after = await fs.promises.stat(file, { bigint: true }).catch(() => null)
    if (after === null || before !== identity(after)) return
    if (Date.now() - Number(after.ctimeNs / 1_000_000n) < RACY_MS) return
    await this.keep(file, identity(after), sha256)
  }

  private async hashFile(file: string): Promise<void> {
    // The identity before the first byte is read: a change while reading shows as a different one.
    const before = await fs.promises.stat(file, { bigint: true }).then(identity, () => null)
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
        const sha256 = digest.digest('hex')
        this.pending.delete(file)
        this.known.set(file, sha256)
        void this.keepIfSettled(file, before, sha256)
      })
      .on('error', () => {
        this.pending.delete(file)
        this.known.set(file, '')
      })
  }
}

async function readRecord(file: string): Promise<Record<string, { id: string; sha256: string }>> {
  try {
    const parsed: unknown = JSON.parse(await fs.promises.readFile(file, 'utf8'))
    const record: Record<string, { id: string; sha256: string }> = Object.create(null)
    if (parsed === null || typeof parsed !== 'object') return record
    for (const [file, kept] of Object.entries(parsed)) {
      const { id, sha256 } = (kept ?? {}) as { id?: unknown; sha256?: unknown }
      if (typeof id === 'string' && typeof sha256 === 'string' && HEX_SHA256.test(sha256)) record[file] = { id, sha256 }
    }
    return record
  } catch {
    return Object.create(null) // none yet, or unreadable: hash again
  }
}
