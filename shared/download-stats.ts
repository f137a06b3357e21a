/** Where a model file came from. */
export type SourceType = 'hyperdrive' | 'registry' | 'http' | 'file'

/** What one resolution cost; names as DESIGN.md's Profiling section. Times in ms. */
export interface DownloadStats {
  sourceType: SourceType
  cacheHit: boolean
  /** Transfer time of this call (0 on a cache hit). */
  downloadTime: number
  /** From the call to a verified file in the cache, waiting on a shared download included. */
  totalDownloadTime: number
  /** Bytes fetched by this call (0 on a cache hit; excludes resumed bytes). */
  totalBytesDownloaded: number
  /** Bytes already present from an earlier, interrupted download. */
  bytesResumed: number
  downloadSpeedBps: number
  checksumValidationTime: number
}

export interface DownloadProgress {
  bytes: number
  total: number | null
  speedBps: number
}

/** Callbacks for watching a resolution; progress is throttled (~150 ms). */
export interface DownloadMetricsHooks {
  onProgress?(progress: DownloadProgress): void
  onChecksumStart?(): void
  onChecksumEnd?(result: { ok: boolean; ms: number }): void
  onCacheHit?(): void
}

/** The download gauges loadModel and downloadAsset events share (DESIGN.md's Profiling names). */
export function downloadGauges(
  stats: Pick<DownloadStats, 'downloadTime' | 'totalBytesDownloaded' | 'downloadSpeedBps' | 'checksumValidationTime'>
): Record<string, number> {
  return {
    downloadTime: stats.downloadTime,
    totalBytesDownloaded: stats.totalBytesDownloaded,
    downloadSpeedBps: stats.downloadSpeedBps,
    checksumValidationTime: stats.checksumValidationTime
  }
}
