import type { CacheEntry } from './cache-index.ts'

/**
 * The cached files to delete so the cache fits in `maxBytes`: least recently used first, never a
 * loaded one or one in `keep` (just resolved, about to load). Local files are not the cache's to delete.
 */
export function evictionPlan(entries: CacheEntry[], maxBytes: number, keep: (entry: CacheEntry) => boolean): CacheEntry[] {
  const cached = entries.filter((e) => !e.local)
  let total = cached.reduce((sum, e) => sum + e.size, 0)
  const plan: CacheEntry[] = []
  for (const entry of [...cached].sort((a, b) => a.lastUsedAt - b.lastUsedAt)) {
    if (total <= maxBytes) break
    if (keep(entry)) continue
    plan.push(entry)
    total -= entry.size
  }
  return plan
}
