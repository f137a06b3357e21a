import { plainTable } from '../bin/format/table.ts'
import { formatBytes, formatDuration } from '../bin/format/units.ts'
import type { BenchReport, Comparison, Ratio, Unit } from './report.ts'

export function formatValue(value: number, unit: Unit | 'ratio'): string {
  if (!Number.isFinite(value)) return '-'
  switch (unit) {
    case 'ms':
      return formatDuration(value)
    case 'tok/s':
      return `${value.toFixed(1)} tok/s`
    case 'MB/s':
      return `${value.toFixed(1)} MB/s`
    case 'ratio':
      return value.toFixed(3)
    default:
      return String(Math.round(value * 100) / 100)
  }
}

function goalText(r: Ratio): string {
  if (!r.goal) return ''
  return `${r.goal.op} ${r.goal.target}  ${r.met === undefined ? 'n/a' : r.met ? 'met' : 'MISSED'}`
}

const trim = (text: string) => text.replace(/ +$/gm, '')

/** The terminal report: the machine, then per scenario its phases, its ratios and what was unavailable. */
export function reportToText(report: BenchReport): string {
  const m = report.machine
  const parts = [
    `qvacd bench (${report.mode}) ${report.date}  git ${report.git.sha.slice(0, 12)}${report.git.dirty ? ' (dirty)' : ''}`,
    `  machine  ${m.cpu}, ${m.cores} cores, ${formatBytes(m.memoryBytes)}, ${m.platform}, node ${m.node}`,
    `  backend  node-llama-cpp ${m.backendBuild} (llama.cpp ${m.backendVersion}), daemon default threads ${m.defaultThreads}`,
    `  load     1-min load average ${m.loadAverageStart.toFixed(2)} at start${m.loadAverageEnd === undefined ? '' : `, ${m.loadAverageEnd.toFixed(2)} at end`}`
  ]
  for (const scenario of report.scenarios) {
    parts.push('', `== ${scenario}`)
    const phases = report.phases.filter((p) => p.scenario === scenario)
    if (phases.length > 0) {
      const table = plainTable(['VARIANT', 'SIDE', 'METRIC', 'N', 'MIN', 'AVG', 'P50', 'P95', 'P99', 'MAX'])
      for (const p of phases) {
        const s = p.summary
        const f = (v: number) => formatValue(v, p.unit)
        table.push([p.variant, p.side, p.metric, s.n, f(s.min), f(s.avg), f(s.p50), f(s.p95), f(s.p99), f(s.max)])
      }
      parts.push(trim(table.toString()))
    }
    const ratios = report.ratios.filter((r) => r.scenario === scenario)
    if (ratios.length > 0) {
      const table = plainTable(['VARIANT', 'RATIO', 'VALUE', 'GOAL'])
      for (const r of ratios) table.push([r.variant, r.name, formatValue(r.value, 'ratio'), goalText(r)])
      parts.push('', trim(table.toString()))
    }
    for (const u of report.unavailable.filter((x) => x.scenario === scenario)) parts.push(`  unavailable: ${u.what}: ${u.why}`)
    for (const n of report.notes.filter((x) => x.startsWith(`${scenario}: `))) parts.push(`  note: ${n.slice(scenario.length + 2)}`)
  }
  return parts.join('\n')
}

export function comparisonToText(rows: Comparison[], threshold: number, oldLabel: string, newLabel: string): string {
  const table = plainTable(['FIGURE', 'OLD', 'NEW', 'CHANGE', ''])
  for (const r of rows) {
    const change = r.kind === 'difference' ? `${r.change >= 0 ? '+' : ''}${formatValue(r.change, 'ratio')}` : `×${formatValue(r.change, 'ratio')}`
    table.push([r.key, formatValue(r.old, r.unit), formatValue(r.new, r.unit), Number.isFinite(r.change) ? change : '-', r.regression ? 'REGRESSION' : ''])
  }
  const regressions = rows.filter((r) => r.regression).length
  return [
    `compare ${oldLabel} → ${newLabel} (regression: worse by more than ${(threshold * 100).toFixed(0)} %, or a difference that now misses its goal)`,
    trim(table.toString()),
    `${rows.length} figures compared, ${regressions} regression${regressions === 1 ? '' : 's'}`
  ].join('\n')
}
