import type { MetricType } from '../../shared/profiler/types.ts'

// Negative values keep their sign: a negative duration or size is a bug upstream, not to be hidden.
// Non-finite values print as JavaScript does (NaN, Infinity).

// Made on first use: building an Intl.NumberFormat loads ICU data (~20 ms of every CLI start).
const numberFormat = (min: number | undefined, max: number) => {
  let format: Intl.NumberFormat | null = null
  return (n: number) => (format ??= new Intl.NumberFormat('en-US', { minimumFractionDigits: min, maximumFractionDigits: max })).format(n)
}
const grouped = numberFormat(undefined, 2)
const grouped1 = numberFormat(1, 1)
const grouped2 = numberFormat(2, 2)

/** 0 µs, 0.40 µs, 850 µs, 12.3 ms, 4.50 s, 3m 20s, 2h 5m, 3d 0h: the unit chosen by size. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms)
  if (ms < 0) return `-${formatDuration(-ms)}`
  if (round3(ms * 1000) < 1000) return `${sig3(ms * 1000)} µs`
  if (round3(ms) < 1000) return `${sig3(ms)} ms`
  if (round3(ms / 1000) < 60) return `${sig3(ms / 1000)} s`
  const seconds = Math.round(ms / 1000)
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return `${hours}h ${minutes % 60}m`
  return `${Math.floor(hours / 24)}d ${hours % 24}h`
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB']

/** 512 B, 654 KiB, 81.9 MiB, 4.20 GiB: binary units, as file sizes. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes)
  if (bytes < 0) return `-${formatBytes(-bytes)}`
  if (Math.round(bytes) < 1024) return `${Math.round(bytes)} B`
  let value = bytes / 1024
  let unit = 0
  while (Math.round(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return `${sig3(value)} ${BYTE_UNITS[unit]}`
}

const THROUGHPUT_UNITS = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s']

/** 512 B/s, 1.43 MiB/s, 11.6 GiB/s: binary units, the same family as sizes (1 MiB/s moves 1 MiB a second). */
export function formatThroughput(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond)) return String(bytesPerSecond)
  if (bytesPerSecond < 0) return `-${formatThroughput(-bytesPerSecond)}`
  let value = bytesPerSecond
  let unit = 0
  while (Math.round(value) >= 1024 && unit < THROUGHPUT_UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return `${sig3(value)} ${THROUGHPUT_UNITS[unit]}`
}

/** Events per second, e.g. tokens: 2,289.4/s, 3.25/s. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return `${perSecond}/s`
  if (perSecond < 0) return `-${formatRate(-perSecond)}`
  return `${(perSecond < 10 ? grouped2 : grouped1)(perSecond)}/s`
}

/** 12, 1,234,567, 12.5 (an average of counts). */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  return grouped(n)
}

export function formatMetric(type: MetricType, value: number): string {
  switch (type) {
    case 'duration':
      return formatDuration(value)
    case 'bytes':
      return formatBytes(value)
    case 'throughput':
      return formatThroughput(value)
    case 'rate':
      return formatRate(value)
    case 'count':
      return formatCount(value)
  }
}

function round3(v: number): number {
  return Number(v.toPrecision(3))
}

/** Three significant digits (4.50, 12.3, 850); whole numbers from 1000 up (1,023). */
function sig3(v: number): string {
  if (v === 0) return '0'
  const r = round3(v)
  if (r >= 1000) return grouped(Math.round(v))
  return r.toFixed(r < 10 ? 2 : r < 100 ? 1 : 0)
}
