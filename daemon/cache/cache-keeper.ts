import { QvacError } from '../../shared/errors.ts'
import type { CacheListing, CachedModel, RemoveCacheResponse } from '../../shared/messages.ts'
import type { Logger } from '../log.ts'
import type { ModelManager } from '../inference/model-manager.ts'
import { parseSource } from '../resolve/source-uri.ts'
import { CacheIndex, type CacheEntry } from './cache-index.ts'
import { evictionPlan } from './eviction.ts'

/**
 * The operator's view of the model cache: what is there and which of it is loaded (`qvacd list`),
 * removal (`qvacd rm`), and the size limit, kept by deleting least recently used unloaded files
 * each time a model is pulled or loaded.
 */
export class CacheKeeper {
  readonly index: CacheIndex
  readonly maxBytes: number
  private readonly models: ModelManager
  private readonly log: Logger

  constructor(opts: { cacheDir: string; models: ModelManager; maxBytes?: number; log: Logger }) {
    this.index = new CacheIndex(opts.cacheDir)
    this.models = opts.models
    this.maxBytes = opts.maxBytes ?? 0
    this.log = opts.log
  }

  ready(): Promise<void> {
    return this.index.ready()
  }

  /** After a pull or load of `source` (resolved to `file`): marks it used, then keeps the size limit. */
  async used(source: string, file: string): Promise<void> {
    await this.index.touch(source, file)
    if (this.maxBytes > 0) await this.evict((entry) => entry.file === file)
  }

  async listing(): Promise<CacheListing> {
    const entries = await this.index.list()
    const models: CachedModel[] = entries.map((e) => ({
      sha256: e.sha256,
      size: e.size,
      sources: e.sources,
      lastUsedAt: e.lastUsedAt,
      loaded: this.loadedFrom(e)
    }))
    const totalBytes = entries.filter((e) => !e.local).reduce((sum, e) => sum + e.size, 0)
    return { models, totalBytes, maxBytes: this.maxBytes }
  }

  /** Removes what `target` names (a source, or a SHA-256 prefix of ≥ 8 hex digits); a loaded model only with `force`. */
  async remove(target: string, force: boolean): Promise<RemoveCacheResponse> {
    const entry = await this.find(target)
    const loaded = this.loadedFrom(entry)
    if (loaded.length > 0 && !force) {
      throw new QvacError('MODEL_IN_USE', `${describe(entry)} is loaded as ${loaded.join(', ')}: unload it first, or remove it with --force`, {
        details: { sha256: entry.sha256, loaded: loaded.join(',') }
      })
    }
    for (const modelId of loaded) await this.models.evict(modelId)
    await this.index.remove(entry)
    return { removed: [{ sha256: entry.sha256, size: entry.local ? 0 : entry.size }], unloaded: loaded }
  }

  private async evict(keep: (entry: CacheEntry) => boolean): Promise<void> {
    const plan = evictionPlan(await this.index.list(), this.maxBytes, (entry) => keep(entry) || this.loadedFrom(entry).length > 0)
    for (const entry of plan) {
      await this.index.remove(entry)
      this.log.info(`cache over ${this.maxBytes} bytes: removed ${entry.sha256} (${entry.size} bytes, least recently used)`)
    }
  }

  private loadedFrom(entry: CacheEntry): string[] {
    return this.models.loaded().filter((m) => m.file === entry.file).map((m) => m.modelId)
  }

  private async find(target: string): Promise<CacheEntry> {
    const entries = await this.index.list()
    let matches: CacheEntry[]
    if (/^[0-9a-f]{8,64}$/i.test(target)) {
      const prefix = target.toLowerCase()
      matches = entries.filter((e) => e.sha256.startsWith(prefix))
    } else {
      const ids = new Set([target])
      try {
        ids.add(parseSource(target).id)
      } catch {}
      matches = entries.filter((e) => e.sources.some((s) => ids.has(s) || ids.has(safeId(s))))
    }
    if (matches.length === 0) {
      throw new QvacError('MODEL_NOT_FOUND', `nothing in the cache for ${target} (see qvacd list)`, { details: { target } })
    }
    if (matches.length > 1) {
      throw new QvacError('INVALID_ARGUMENT', `${target} matches ${matches.length} cached models: give more of the SHA-256`, { details: { target } })
    }
    return matches[0]
  }
}

function describe(entry: CacheEntry): string {
  return entry.local ? entry.sources[0] : entry.sha256.slice(0, 12)
}

function safeId(source: string): string {
  try {
    return parseSource(source).id
  } catch {
    return source
  }
}
