import path from 'node:path'
import type Corestore from 'corestore'
import type Hyperswarm from 'hyperswarm'
import type { DownloadMetricsHooks, DownloadStats, SourceType } from '../../shared/download-stats.ts'
import { QvacError } from '../../shared/errors.ts'
import { Registry } from '../registry/registry.ts'
import { RegistryFinder } from '../registry/registry-finder.ts'
import { abortError, throwIfAborted } from './abort.ts'
import type { AddressPolicy } from './address-policy.ts'
import { ModelCache, type Reachable } from './cache.ts'
import { DrivePool } from './drive-pool.ts'
import { checksumMismatch, type FetchLimits, type FetchResult } from './fetch-result.ts'
import { resolveLocalFile, type LocalFile } from './file.ts'
import { fetchHttp } from './http.ts'
import { fetchFromDrive } from './hyperdrive.ts'
import type { DownloadReporter } from './progress.ts'
import { lookupRegistryModel } from './registry.ts'
import { SharedDownloads } from './shared-downloads.ts'
import { resolveInModelsDir } from './models-dir.ts'
import { OPERATOR_ACCESS, type SourceAccess } from './source-access.ts'
import { parseSource, type ParsedSource } from './source-uri.ts'

export interface ModelResolverOptions {
  /** The daemon's storage dir; the cache lives in `storage/cache`. */
  storage: string
  /** Drives and the registry replicate through it. */
  store: Corestore
  /** Joined to a drive's discovery key to find seeders; replication on its connections is the owner's job. */
  swarm: Hyperswarm
  /** The registry behind `registry://NAME`. */
  registryKey?: Buffer
  /** Largest file accepted from any download (bytes). */
  maxBytes?: number
  /** How long a drive download waits for a seeder to come back once every seeder left (ms). */
  peerWaitMs?: number
}

export interface ResolveOptions {
  stats?: boolean
  /** SHA-256 (hex) the file must have; a file that differs is never served. */
  expectedSha256?: string
  hooks?: DownloadMetricsHooks
  signal?: AbortSignal
  /** What the caller may reach (the daemon passes its caller's); default: the operator's, everything. */
  access?: SourceAccess
}

export interface ResolvedModel {
  path: string
  stats: DownloadStats
}

type FetchSource = Extract<ParsedSource, { type: 'hyperdrive' | 'http' }>

/** What a shared download hands every waiter: the file, and what fetching it cost. */
interface Fetched {
  path: string
  sha256: string
  size: number
  cacheHit: boolean
  transfer: FetchResult | null
  checksumMs: number
  /** Non-public addresses the bytes came through. */
  via: string[]
}

const DEFAULT_PEER_WAIT_MS = 60_000

/**
 * Turns a model source into a verified local file: `hyperdrive://` / `pear://`, `registry://`,
 * `http(s)://`, a local path or `file://`. Downloads land in a content-addressed cache only after
 * their SHA-256 was checked; concurrent resolves of one source share one download.
 */
export class ModelResolver {
  readonly cache: ModelCache
  private readonly store: Corestore
  private readonly swarm: Hyperswarm
  private readonly registryKey: Buffer | undefined
  private readonly maxBytes: number
  private readonly peerWaitMs: number
  private readonly downloads = new SharedDownloads()
  private readonly drives: DrivePool
  private registry: RegistryFinder | null = null

  constructor(opts: ModelResolverOptions) {
    this.cache = new ModelCache(path.join(opts.storage, 'cache'))
    this.store = opts.store
    this.drives = new DrivePool(opts.store)
    this.swarm = opts.swarm
    this.registryKey = opts.registryKey
    this.maxBytes = opts.maxBytes ?? Number.MAX_SAFE_INTEGER
    this.peerWaitMs = opts.peerWaitMs ?? DEFAULT_PEER_WAIT_MS
  }

  async ready(): Promise<void> {
    await this.cache.ready()
    if (!this.registryKey) return
    const registry = new Registry({ store: this.store, key: this.registryKey })
    await registry.ready()
    this.registry = new RegistryFinder({ swarm: this.swarm, registry })
    this.registry.ready()
  }

  /** Aborts downloads in flight (their partial files stay for a resume), leaves the registry. */
  async close(): Promise<void> {
    await this.downloads.close()
    if (this.registry) {
      await this.registry.close()
      await this.registry.registry.close()
    }
  }

  resolveModel(source: string, opts?: ResolveOptions & { stats?: false }): Promise<string>
  resolveModel(source: string, opts: ResolveOptions & { stats: true }): Promise<ResolvedModel>
  resolveModel(source: string, opts?: ResolveOptions): Promise<string | ResolvedModel>
  async resolveModel(source: string, opts: ResolveOptions = {}): Promise<string | ResolvedModel> {
    const resolved = await this.resolve(source, opts)
    return opts.stats ? resolved : resolved.path
  }

  private async resolve(source: string, opts: ResolveOptions): Promise<ResolvedModel> {
    const started = performance.now()
    const { hooks, signal } = opts
    const expected = opts.expectedSha256 === undefined ? undefined : parseSha256(opts.expectedSha256)
    const access = opts.access ?? OPERATOR_ACCESS
    const parsed = parseSource(source)
    throwIfAborted(signal)
    try {
      if (parsed.type === 'file') {
        const local = await resolveLocalFile(await localFileFor(parsed, access), expected, hooks, signal)
        return { path: local.path, stats: statsOf('file', null, local.checksumMs, started, false) }
      }
      // Before the cache and before joining a running download: neither may serve what the caller could not fetch.
      if (parsed.type === 'http') await access.addresses.assertHost(parsed.url.hostname)
      if (parsed.type === 'registry') {
        const entry = await lookupRegistryModel(this.registry, parsed.name, signal)
        if (expected !== undefined && expected !== entry.sha256) throw checksumMismatch(parsed.id, expected, entry.sha256)
        const target = parseSource(entry.source)
        // The registry is someone else's data: it may name a drive or a URL, never a local file.
        if (target.type !== 'hyperdrive' && target.type !== 'http') {
          throw new QvacError('UNSUPPORTED_SOURCE', `registry entry ${parsed.name} points at a ${target.type} source`, {
            details: { name: parsed.name, source: entry.source }
          })
        }
        if (target.type === 'http') await access.addresses.assertHost(target.url.hostname)
        return await this.resolveCached(parsed.id, target, entry.sha256, { maxBytes: this.maxBytes, expectedSize: entry.size }, 'registry', opts, started)
      }
      return await this.resolveCached(parsed.id, parsed, expected, { maxBytes: this.maxBytes }, parsed.type, opts, started)
    } catch (err) {
      if (signal?.aborted) throw abortError(signal)
      throw err
    }
  }

  /**
   * A cache hit for `alias` (the source as asked, e.g. `registry://x`), or one download of
   * `target` shared with every concurrent resolve of it, checked against `expected`.
   */
  private async resolveCached(
    alias: string,
    target: FetchSource,
    expected: string | undefined,
    limits: FetchLimits,
    sourceType: SourceType,
    opts: ResolveOptions,
    started: number
  ): Promise<ResolvedModel> {
    const { hooks, signal } = opts
    const addresses = (opts.access ?? OPERATOR_ACCESS).addresses
    const hit = await this.cache.lookup(alias, expected, { hooks, reachable: reachableBy(addresses) })
    if (hit) {
      hooks?.onCacheHit?.()
      return { path: hit.path, stats: statsOf(sourceType, null, hit.checksumMs, started, true) }
    }

    // Callers under other address rules share no download (nor its partial): one may reach what the other's redirects lead to.
    const runId = addresses.any ? target.id : `restricted ${target.id}`
    const task = (taskSignal: AbortSignal, reporter: DownloadReporter) => this.fetch(target, runId, expected, limits, addresses, taskSignal, reporter)
    const fetched = await this.downloads.run(runId, task, { hooks, signal })
    // A caller that joined someone else's download may have expected other bytes.
    if (expected !== undefined && fetched.sha256 !== expected) throw checksumMismatch(alias, expected, fetched.sha256)
    if (alias !== target.id) await this.cache.record(alias, fetched.sha256, fetched.size, fetched.via)
    if (fetched.cacheHit) hooks?.onCacheHit?.()
    return { path: fetched.path, stats: statsOf(sourceType, fetched.transfer, fetched.checksumMs, started, fetched.cacheHit) }
  }

  /** One shared download (`runId`, also its partial file): the cache again (a download may have finished since), then the source. */
  private async fetch(
    target: FetchSource,
    runId: string,
    expected: string | undefined,
    limits: FetchLimits,
    addresses: AddressPolicy,
    signal: AbortSignal,
    reporter: DownloadReporter
  ): Promise<Fetched> {
    const hit = await this.cache.lookup(target.id, expected, { reachable: reachableBy(addresses) })
    if (hit) return { path: hit.path, sha256: hit.sha256, size: hit.size, cacheHit: true, transfer: null, checksumMs: hit.checksumMs, via: hit.via }

    const partial = this.cache.partial(runId)
    const transfer =
      target.type === 'http'
        ? await fetchHttp({ url: target.url, partial, limits, addresses, signal, reporter })
        : await fetchFromDrive({
            drives: this.drives,
            swarm: this.swarm,
            key: target.key,
            path: target.path,
            source: target.id,
            partial,
            limits,
            peerWaitMs: this.peerWaitMs,
            signal,
            reporter
          })

    // Hashed on the way in; what is left is the comparison.
    reporter.checksumStart()
    const ok = expected === undefined || transfer.sha256 === expected
    reporter.checksumEnd({ ok, ms: transfer.hashMs })
    if (!ok) {
      await this.cache.discardPartial(runId)
      throw checksumMismatch(target.id, expected as string, transfer.sha256)
    }
    const file = await this.cache.commit(runId, target.id, transfer.sha256, transfer.size, transfer.via)
    return { path: file, sha256: transfer.sha256, size: transfer.size, cacheHit: false, transfer, checksumMs: transfer.hashMs, via: transfer.via }
  }
}

/** What a cache hit must have come through for a caller under these rules (anything when unrestricted). */
function reachableBy(addresses: AddressPolicy): Reachable | undefined {
  return addresses.any ? undefined : (address) => addresses.allows(address)
}

/** The operator's path is used as given; a remote peer's only inside the models dir, named relative to it. */
async function localFileFor(parsed: Extract<ParsedSource, { type: 'file' }>, access: SourceAccess): Promise<LocalFile> {
  if (!access.remote) return { path: parsed.path, name: parsed.path, remote: false }
  const inside = await resolveInModelsDir(access.modelsDir, parsed.given)
  return { path: inside.path, name: inside.relative || '.', remote: true }
}

function statsOf(sourceType: SourceType, transfer: FetchResult | null, checksumMs: number, started: number, cacheHit: boolean): DownloadStats {
  const downloadTime = transfer?.downloadMs ?? 0
  const bytes = transfer?.bytesDownloaded ?? 0
  return {
    sourceType,
    cacheHit,
    downloadTime,
    totalDownloadTime: performance.now() - started,
    totalBytesDownloaded: bytes,
    bytesResumed: transfer?.bytesResumed ?? 0,
    downloadSpeedBps: downloadTime > 0 ? Math.round(bytes / (downloadTime / 1000)) : 0,
    checksumValidationTime: checksumMs
  }
}

function parseSha256(value: string): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/i.test(value)) {
    throw new QvacError('INVALID_ARGUMENT', 'expectedSha256 must be 64 hex characters')
  }
  return value.toLowerCase()
}
