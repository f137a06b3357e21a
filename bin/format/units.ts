// The CLI prints values with the same units as the profiler's tables.
export { formatDuration, formatBytes } from '../../shared/format-units.ts'
