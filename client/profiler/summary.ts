import { formatDuration, formatMetric } from './format-units.ts'
import { alignColumns } from './table.ts'
import type { MetricSummary } from '../../shared/profiler/types.ts'

// The gauges a reader looks at first, by the last part of the metric name.
const KEY_GAUGES = new Map([
  ['timeToFirstToken', 'time to first token'],
  ['tokensPerSecond', 'tokens/s'],
  ['totalLoadTime', 'load time']
])

/**
 * Calls per method with p50/p95 latency, then TTFT, tokens/s and load time per operation.
 * Latency is `${method}.clientTotalMs`, or on a daemon, which sees no client, `${method}.totalServerMs`.
 */
export function formatProfileSummary(metrics: Record<string, MetricSummary>): string {
  const latency = new Map<string, MetricSummary>()
  for (const [name, m] of Object.entries(metrics)) {
    const [method, leaf, ...rest] = name.split('.')
    if (rest.length > 0) continue
    if (leaf === 'clientTotalMs' || (leaf === 'totalServerMs' && !(`${method}.clientTotalMs` in metrics))) {
      latency.set(method, m)
    }
  }
  const rows: string[][] = []
  for (const [method, m] of latency) {
    rows.push([method, `${m.count} ${m.count === 1 ? 'call' : 'calls'}`, `p50 ${formatDuration(m.p50)}`, `p95 ${formatDuration(m.p95)}`])
  }
  for (const [name, m] of Object.entries(metrics)) {
    const dot = name.lastIndexOf('.')
    const label = KEY_GAUGES.get(name.slice(dot + 1))
    if (label === undefined || dot < 0) continue
    rows.push([`${label} (${name.slice(0, dot)})`, `n=${m.count}`, `p50 ${formatMetric(m.type, m.p50)}`, `p95 ${formatMetric(m.type, m.p95)}`])
  }
  return rows.length === 0 ? 'no calls recorded' : alignColumns(rows, false)
}
