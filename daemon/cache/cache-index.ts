import crypto from 'node:crypto'
import fsp from 'node:fs/promises'
import path from 'node:path'

/** One model the daemon can load without fetching: a verified cache file, or a local file it was given. */
export interface CacheEntry {
  /** Empty for a local file: it was never copied into the cache, nor hashed. */
  sha256: string
  size: number
  sources: string[]
  lastUsedAt: number
  /** Where the bytes are. */
  file: string
  /** A local file the daemon only points at: removing the entry forgets it, never deletes it. */
  local: boolean
}

interface SourceRecord {
  source: string
  sha256: string
  size: number
}

interface LocalRecord {
  source: string
  file: string
}

/**
 * What `qvacd list` and `rm` see of the model cache (daemon/resolve/cache.ts writes it):
 *   sha256/<hex>   verified files, sources/<id> the source index (both the resolver's)
 *   used/<hex>     an empty marker whose mtime is when the file was last pulled or loaded
 *   local/<id>     local files the daemon was asked for, with their path
 * The markers live apart from the content: touching a verified file would change the stat the
 * resolver checks, and force a re-hash.
 */
export class CacheIndex {
  private readonly contentDir: string
  private readonly sourcesDir: string
  private readonly usedDir: string
  private readonly localDir: string

  constructor(cacheDir: string) {
    this.contentDir = path.join(cacheDir, 'sha256')
    this.sourcesDir = path.join(cacheDir, 'sources')
    this.usedDir = path.join(cacheDir, 'used')
    this.localDir = path.join(cacheDir, 'local')
  }

  async ready(): Promise<void> {
    for (const dir of [this.contentDir, this.sourcesDir, this.usedDir, this.localDir]) await fsp.mkdir(dir, { recursive: true, mode: 0o700 })
  }

  /** The SHA-256 of a resolved file if it is a cache file, else null (a local file). */
  shaOf(file: string): string | null {
    return path.dirname(file) === this.contentDir ? path.basename(file) : null
  }

  /** Notes that `source`, resolved to `file`, was just pulled or loaded. */
  async touch(source: string, file: string): Promise<void> {
    const sha256 = this.shaOf(file)
    if (sha256) return touchFile(path.join(this.usedDir, sha256))
    const record: LocalRecord = { source, file }
    const dest = path.join(this.localDir, idOf(file))
    await fsp.writeFile(dest, JSON.stringify(record))
  }

  /** Cached files (most recently used first), then local files that still exist. */
  async list(): Promise<CacheEntry[]> {
    const sources = new Map<string, string[]>()
    for (const record of await readRecords<SourceRecord>(this.sourcesDir)) {
      if (typeof record.sha256 !== 'string' || typeof record.source !== 'string') continue
      sources.set(record.sha256, [...(sources.get(record.sha256) ?? []), record.source])
    }
    const entries: CacheEntry[] = []
    for (const name of await readDir(this.contentDir)) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue
      const file = path.join(this.contentDir, name)
      const stat = await fsp.stat(file).catch(() => null)
      if (!stat) continue
      const used = await fsp.stat(path.join(this.usedDir, name)).catch(() => null)
      entries.push({
        sha256: name,
        size: stat.size,
        sources: (sources.get(name) ?? []).sort(),
        lastUsedAt: Math.round(Math.max(stat.mtimeMs, used?.mtimeMs ?? 0)),
        file,
        local: false
      })
    }
    for (const name of await readDir(this.localDir)) {
      const marker = path.join(this.localDir, name)
      const record = await readJson<LocalRecord>(marker)
      const stat = record ? await fsp.stat(record.file).catch(() => null) : null
      const used = await fsp.stat(marker).catch(() => null)
      if (!record || !stat?.isFile() || !used) continue
      entries.push({ sha256: '', size: stat.size, sources: [record.source], lastUsedAt: Math.round(used.mtimeMs), file: record.file, local: true })
    }
    return entries.sort((a, b) => b.lastUsedAt - a.lastUsedAt)
  }

  /** Deletes a cached file with its index records (a local file: forgets it, the file stays). */
  async remove(entry: CacheEntry): Promise<void> {
    if (entry.local) {
      await fsp.rm(path.join(this.localDir, idOf(entry.file)), { force: true })
      return
    }
    for (const name of await readDir(this.sourcesDir)) {
      const record = await readJson<SourceRecord>(path.join(this.sourcesDir, name))
      if (record?.sha256 === entry.sha256) await fsp.rm(path.join(this.sourcesDir, name), { force: true })
    }
    await fsp.rm(path.join(this.usedDir, entry.sha256), { force: true })
    await fsp.rm(entry.file, { force: true })
  }
}

async function touchFile(file: string): Promise<void> {
  const now = new Date()
  try {
    await fsp.utimes(file, now, now)
  } catch {
    await fsp.writeFile(file, '')
  }
}

function idOf(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex')
}

async function readDir(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir).catch(() => [] as string[])).filter((name) => !name.endsWith('.tmp'))
}

async function readRecords<T>(dir: string): Promise<T[]> {
  const records: T[] = []
  for (const name of await readDir(dir)) {
    const record = await readJson<T>(path.join(dir, name))
    if (record) records.push(record)
  }
  return records
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as T
  } catch {
    return null
  }
}
