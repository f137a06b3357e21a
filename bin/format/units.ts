// The CLI prints values with the same units as the profiler's tables.
export { formatDuration, formatBytes } from '../../client/profiler/format-units.ts'
