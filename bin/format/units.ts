// The CLI prints values with the same units as the profiler's tables: binary sizes and speeds.
export { formatDuration, formatBytes, formatThroughput } from '../../client/profiler/format-units.ts'

/** What a table shows for a value that does not apply (a cache hit has no download speed). */
export const NOT_APPLICABLE = '—'
