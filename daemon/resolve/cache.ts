import crypto from 'node:crypto'
import fsp from 'node:fs/promises'
import path from 'node:path'
import type { DownloadMetricsHooks } from '../../shared/download-stats.ts'
import { hashFile } from './file-sink.ts'
import { readMeta, validatorOf } from './partial-meta.ts'

/** What the index remembers of a source: its content, and the file's stat when it was verified. */
interface SourceRecord {
  source: string
  sha256: string
  size: number
  mtimeMs: number
  /** Non-public addresses the download went through (absent: none). */
  via?: string[]
}

export interface CacheHit {
  path: string
  sha256: string
  size: number
  /** Time spent re-hashing a file whose stat changed since it was verified (0 when it had not). */
  checksumMs: number
  /** Non-public addresses the download that brought it went through. */
  via: string[]
}

/** Whether a caller may reach an address; a source fetched through one it may not is no cache hit for it. */
export type Reachable = (address: string) => boolean

/** Where a source's unfinished download lives: the bytes, and a sidecar the fetcher may use. */
export interface PartialFiles {
  file: string
  meta: string
}

/**
 * The model cache under `storage/cache`, content-addressed by SHA-256:
 *   sha256/<hex>     verified files, the only ones ever served
 *   partial/<id>     unfinished downloads (resumable), never served
 *   sources/<id>     index: source → sha256, size and the stat of the verified file
 * `<id>` is the SHA-256 of the canonical source. A verified file whose stat no longer matches is
 * hashed again before it is served, and dropped if it is damaged.
 */
export class ModelCache {
  readonly dir: string
  private readonly contentDir: string
  private readonly partialDir: string
  private readonly sourcesDir: string

  constructor(dir: string) {
    this.dir = dir
    this.contentDir = path.join(dir, 'sha256')
    this.partialDir = path.join(dir, 'partial')
    this.sourcesDir = path.join(dir, 'sources')
  }

  async ready(): Promise<void> {
    for (const dir of [this.contentDir, this.partialDir, this.sourcesDir]) {
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 })
    }
    await this.sweepPartials()
  }

  /**
   * Deletes unfinished downloads that can never resume: HTTP ones without a validator, drive
   * copies (a drive resumes from its corestore, never from the copy), sidecars left alone.
   */
  private async sweepPartials(): Promise<void> {
    const names = await fsp.readdir(this.partialDir)
    const removed: string[] = []
    for (const name of names) {
      const base = name.endsWith('.meta') ? name.slice(0, -'.meta'.length) : name
      const partial = { file: path.join(this.partialDir, base), meta: path.join(this.partialDir, base + '.meta') }
      const meta = await readMeta(partial)
      const resumable = meta !== null && validatorOf(meta) !== undefined && names.includes(base)
      if (resumable || removed.includes(base)) continue
      await removePartial(partial)
      removed.push(base)
    }
  }

  contentPath(sha256: string): string {
    return path.join(this.contentDir, sha256)
  }

  partial(sourceId: string): PartialFiles {
    const file = path.join(this.partialDir, sourceKey(sourceId))
    return { file, meta: file + '.meta' }
  }

  /**
   * A verified file for this source (and, when given, this hash): first through the index, then
   * by content when the hash is known, since another source may have brought the same bytes.
   * Through the index only what was fetched by ways `reachable` allows: a remote caller must not
   * get, by its URL, what the operator fetched through a private address.
   */
  async lookup(
    sourceId: string,
    expectedSha256: string | undefined,
    opts: { hooks?: DownloadMetricsHooks; reachable?: Reachable } = {}
  ): Promise<CacheHit | null> {
    const { hooks, reachable } = opts
    const found = await this.readRecord(sourceId)
    const record = found && (!reachable || (found.via ?? []).every(reachable)) ? found : null
    if (record && (expectedSha256 === undefined || record.sha256 === expectedSha256)) {
      const hit = await this.check(record.sha256, record, hooks)
      if (hit) return hit
    }
    if (expectedSha256 === undefined || record?.sha256 === expectedSha256) return null
    const hit = await this.check(expectedSha256, null, hooks)
    // A record this caller may not use is left as it was: the next caller may.
    if (hit && found === record) await this.record(sourceId, hit.sha256, hit.size)
    return hit
  }

  /**
   * Moves a verified download from the partial file `partialId` into place (rename is atomic:
   * readers see all or nothing) and indexes it for `sourceId`, with the private addresses it went through.
   */
  async commit(partialId: string, sourceId: string, sha256: string, size: number, via: string[]): Promise<string> {
    const { file, meta } = this.partial(partialId)
    const dest = this.contentPath(sha256)
    await fsp.rename(file, dest)
    await syncDir(this.contentDir)
    await fsp.rm(meta, { force: true })
    await this.record(sourceId, sha256, size, via)
    return dest
  }

  /** Indexes one more source for content already in the cache. */
  async record(sourceId: string, sha256: string, size: number, via: string[] = []): Promise<void> {
    const { mtimeMs } = await fsp.stat(this.contentPath(sha256))
    const record: SourceRecord = { source: sourceId, sha256, size, mtimeMs, ...(via.length > 0 ? { via } : {}) }
    const dest = path.join(this.sourcesDir, sourceKey(sourceId))
    const temp = `${dest}.${crypto.randomBytes(6).toString('hex')}.tmp`
    await fsp.writeFile(temp, JSON.stringify(record))
    await fsp.rename(temp, dest)
  }

  /** Drops an unfinished download that must not be resumed (wrong hash, wrong size). */
  discardPartial(sourceId: string): Promise<void> {
    return removePartial(this.partial(sourceId))
  }

  private async check(sha256: string, record: SourceRecord | null, hooks?: DownloadMetricsHooks): Promise<CacheHit | null> {
    const file = this.contentPath(sha256)
    let stat
    try {
      stat = await fsp.stat(file)
    } catch {
      return null
    }
    const via = record?.via ?? []
    if (record && stat.size === record.size && stat.mtimeMs === record.mtimeMs) {
      return { path: file, sha256, size: stat.size, checksumMs: 0, via }
    }
    hooks?.onChecksumStart?.()
    const { sha256: actual, ms } = await hashFile(file)
    hooks?.onChecksumEnd?.({ ok: actual === sha256, ms })
    if (actual !== sha256) {
      await fsp.rm(file, { force: true })
      return null
    }
    if (record) await this.record(record.source, sha256, stat.size, via)
    return { path: file, sha256, size: stat.size, checksumMs: ms, via }
  }

  private async readRecord(sourceId: string): Promise<SourceRecord | null> {
    try {
      const record = JSON.parse(await fsp.readFile(path.join(this.sourcesDir, sourceKey(sourceId)), 'utf8')) as SourceRecord
      return record.source === sourceId ? record : null
    } catch {
      return null
    }
  }
}

export async function removePartial(partial: PartialFiles): Promise<void> {
  await fsp.rm(partial.file, { force: true })
  await fsp.rm(partial.meta, { force: true })
}

function sourceKey(sourceId: string): string {
  return crypto.createHash('sha256').update(sourceId).digest('hex')
}

// The rename is durable only once the directory entry is on disk too.
async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
