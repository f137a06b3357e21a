import type { CacheListing, LoadedModel } from '../../shared/messages.ts'
import { plainTable } from './table.ts'
import { NOT_APPLICABLE, formatBytes, formatDuration } from './units.ts'

/** `qvacd list`: what the daemon can load without fetching, most recently used first. */
export function cacheToTable(listing: CacheListing, now = Date.now()): string {
  if (listing.models.length === 0) return 'no models in the cache (qvacd pull SOURCE)'
  const table = plainTable(['SOURCE', 'SHA-256', 'SIZE', 'LAST USED', 'LOADED'])
  for (const m of listing.models) {
    table.push([
      m.sources.length > 0 ? m.sources.join('\n') : NOT_APPLICABLE,
      m.sha256 ? m.sha256.slice(0, 12) : `${NOT_APPLICABLE} (local file)`,
      formatBytes(m.size),
      ago(now, m.lastUsedAt),
      m.loaded.length > 0 ? `yes (${m.loaded.join(', ')})` : 'no'
    ])
  }
  const limit = listing.maxBytes > 0 ? ` of ${formatBytes(listing.maxBytes)} (least recently used unloaded models go first)` : ''
  return `${trim(table.toString())}\n\ncache: ${formatBytes(listing.totalBytes)}${limit}`
}

/** `qvacd ps`, as `ollama ps`: what is loaded, what it holds, and when the keep-alive frees it. */
export function loadedToTable(models: LoadedModel[], now = Date.now()): string {
  if (models.length === 0) return 'no models loaded'
  const table = plainTable(['ID', 'SOURCE', 'SIZE', 'MEMORY', 'STREAMS', 'QUEUED', 'REFS', 'IDLE', 'UNLOADS'])
  for (const m of models) {
    const busy = m.activeStreams > 0 || m.queuedStreams > 0
    table.push([
      m.modelId,
      m.source,
      formatBytes(m.sizeBytes),
      formatBytes(m.memoryBytes),
      `${m.activeStreams}/${m.sequences}`,
      m.queuedStreams,
      m.references,
      busy ? NOT_APPLICABLE : formatDuration(Math.max(0, now - m.lastUsedAt)),
      m.expiresAt === 0 ? 'never' : busy ? NOT_APPLICABLE : `in ${formatDuration(Math.max(0, m.expiresAt - now))}`
    ])
  }
  return trim(table.toString())
}

export function ago(now: number, at: number): string {
  return `${formatDuration(Math.max(0, now - at))} ago`
}

function trim(text: string): string {
  return text.replace(/ +$/gm, '')
}
