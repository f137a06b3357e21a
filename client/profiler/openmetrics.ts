import type { MetricSummary, MetricType } from '../../shared/profiler/types.ts'

const QUANTILES = [
  ['0.5', 'p50'],
  ['0.9', 'p90'],
  ['0.95', 'p95'],
  ['0.99', 'p99']
] as const

/**
 * OpenMetrics text: one summary per metric (quantiles, _sum, _count) in base units — seconds for
 * durations, bytes, bytes per second — with TYPE/UNIT/HELP lines, ending in `# EOF`.
 * `infer.clientTotalMs` becomes `qvacd_infer_client_total_seconds`.
 */
export function toOpenMetrics(metrics: Record<string, MetricSummary>, prefix = 'qvacd'): string {
  const lines: string[] = []
  const families = new Set<string>()
  for (const [name, m] of Object.entries(metrics)) {
    if (m.count === 0) continue
    const { family, unit, divisor } = familyOf(prefix, name, m.type)
    // Two names may sanitize alike; a family may appear once, so the first wins.
    if (families.has(family)) continue
    families.add(family)
    lines.push(`# HELP ${family} ${escapeHelp(`${name} (${m.type})`)}`)
    lines.push(`# TYPE ${family} summary`)
    if (unit) lines.push(`# UNIT ${family} ${unit}`)
    for (const [quantile, key] of QUANTILES) lines.push(`${family}{quantile="${quantile}"} ${number(m[key] / divisor)}`)
    lines.push(`${family}_sum ${number(m.sum / divisor)}`)
    lines.push(`${family}_count ${m.count}`)
  }
  lines.push('# EOF')
  return lines.join('\n') + '\n'
}

/** The metric family name, its OpenMetrics unit and what divides a value into that unit. */
export function familyOf(prefix: string, name: string, type: MetricType): { family: string; unit: string; divisor: number } {
  const dot = name.lastIndexOf('.')
  const path = snake(name.slice(0, dot + 1))
  let leaf = name.slice(dot + 1)
  let unit = ''
  let divisor = 1
  if (type === 'duration') {
    if (leaf.endsWith('Ms')) leaf = leaf.slice(0, -2)
    unit = 'seconds'
    divisor = 1000
  } else if (type === 'bytes') {
    // bytesSent → sent_bytes: the unit is said once, at the end.
    leaf = snake(leaf).split('_').filter((word) => word !== 'bytes').join('_')
    unit = 'bytes'
  } else if (type === 'throughput') {
    if (leaf.endsWith('Bps')) leaf = leaf.slice(0, -3)
    unit = 'bytes_per_second'
  }
  let family = [snake(prefix), path, snake(leaf), unit].filter((part) => part !== '').join('_')
  if (/^[0-9]/.test(family)) family = `_${family}`
  return { family, unit, divisor }
}

/** fooBar.bazMs → foo_bar_baz_ms: lower snake case, only [a-z0-9_]. */
function snake(text: string): string {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function number(value: number): string {
  return Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN'
}
