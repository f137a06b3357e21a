import type { DownloadAssetResponse } from '../../shared/messages.ts'
import { NOT_APPLICABLE, formatBytes, formatDuration, formatThroughput } from './units.ts'
import { plainTable } from './table.ts'

/** What a pull fetched and what it cost, as a short table; `—` where nothing was transferred. */
export function downloadToTable({ asset, stats }: DownloadAssetResponse): string {
  const transferred = !stats.cacheHit && stats.sourceType !== 'file'
  const ifTransferred = (text: string) => (transferred ? text : NOT_APPLICABLE)
  const table = plainTable()
  table.push(
    ['SOURCE', asset.source],
    ['SHA-256', asset.sha256 || '(not hashed: a local file)'],
    ['SIZE', formatBytes(asset.size)],
    ['SOURCE TYPE', stats.sourceType],
    ['CACHE HIT', stats.cacheHit ? 'yes' : 'no'],
    ['DOWNLOADED', ifTransferred(formatBytes(stats.totalBytesDownloaded))],
    ['RESUMED', ifTransferred(formatBytes(stats.bytesResumed))],
    ['DOWNLOAD TIME', ifTransferred(formatDuration(stats.downloadTime))],
    ['SPEED', ifTransferred(stats.downloadSpeedBps > 0 ? formatThroughput(stats.downloadSpeedBps) : NOT_APPLICABLE)],
    ['CHECKSUM', stats.checksumValidationTime > 0 ? formatDuration(stats.checksumValidationTime) : NOT_APPLICABLE],
    ['TOTAL', formatDuration(stats.totalDownloadTime)]
  )
  return table.toString().replace(/ +$/gm, '')
}
