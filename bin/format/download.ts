import type { DownloadAssetResponse } from '../../shared/messages.ts'
import { formatBytes, formatDuration, formatThroughput } from '../../client/profiler/format-units.ts'
import { plainTable } from './table.ts'

/** What a pull fetched and what it cost, as a short table. */
export function downloadToTable({ asset, stats }: DownloadAssetResponse): string {
  const table = plainTable()
  table.push(
    ['SOURCE', asset.source],
    ['SHA-256', asset.sha256 || '(not hashed: a local file)'],
    ['SIZE', formatBytes(asset.size)],
    ['SOURCE TYPE', stats.sourceType],
    ['CACHE HIT', stats.cacheHit ? 'yes' : 'no'],
    ['DOWNLOADED', formatBytes(stats.totalBytesDownloaded)],
    ['RESUMED', formatBytes(stats.bytesResumed)],
    ['DOWNLOAD TIME', formatDuration(stats.downloadTime)],
    ['SPEED', formatThroughput(stats.downloadSpeedBps)],
    ['CHECKSUM', formatDuration(stats.checksumValidationTime)],
    ['TOTAL', formatDuration(stats.totalDownloadTime)]
  )
  return table.toString().replace(/ +$/gm, '')
}
