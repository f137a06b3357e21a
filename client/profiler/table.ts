import { formatMetric } from './format-units.ts'
import type { MetricSummary } from '../../shared/profiler/types.ts'

const HEAD = ['METRIC', 'COUNT', 'MIN', 'AVG', 'P50', 'P95', 'P99', 'MAX']

/** One row per metric, values formatted by the metric's type; borderless like `ollama ps`. */
export function formatMetricTable(metrics: Record<string, MetricSummary>): string {
  const rows = Object.entries(metrics).map(([name, m]) => [
    name,
    String(m.count),
    ...[m.min, m.avg, m.p50, m.p95, m.p99, m.max].map((v) => formatMetric(m.type, v))
  ])
  return alignColumns([HEAD, ...rows])
}

/** Columns two spaces apart; the first left-aligned, the rest right-aligned as numbers unless told. */
export function alignColumns(rows: string[][], rightAlign = true): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows
    .map((row) => row.map((cell, i) => (i === 0 || !rightAlign ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd())
    .join('\n')
}
