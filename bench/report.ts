import fs from 'node:fs/promises'
import type { GitInfo, MachineInfo } from './machine.ts'
import { ratio, summarize, type Summary } from './stats.ts'

/** What a figure measures: its unit says which way is better. */
export type Unit = 'ms' | 'tok/s' | 'MB/s' | 'count'

/** One measured phase: e.g. stream / tiny / qvacd-swarm / ttft. */
export interface Phase {
  scenario: string
  /** The model or variant the phase ran with (`tiny`, `large`, `t=2`, `n=16`), '' when none. */
  variant: string
  side: string
  metric: string
  unit: Unit
  summary: Summary
}

/** A ratio between two sides of one run, with the goal when it has one. */
export interface Ratio {
  scenario: string
  variant: string
  name: string
  value: number
  goal?: { op: '<=' | '>='; target: number }
  met?: boolean
  /** A difference (e.g. TTFT − TTFT in ms, failed streams) rather than a quotient. */
  kind?: 'difference'
}

/** Something a scenario could not measure, and why: printed, never skipped silently. */
export interface Unavailable {
  scenario: string
  what: string
  why: string
}

export interface BenchReport {
  format: 'qvacd-bench/1'
  date: string
  mode: 'quick' | 'full'
  command: string
  git: GitInfo
  machine: MachineInfo
  scenarios: string[]
  phases: Phase[]
  ratios: Ratio[]
  unavailable: Unavailable[]
  notes: string[]
}

/** Collects one scenario's figures as it runs. */
export class ScenarioRecorder {
  readonly phases: Phase[] = []
  readonly ratios: Ratio[] = []
  readonly unavailable: Unavailable[] = []
  readonly notes: string[] = []
  constructor(readonly scenario: string) {}

  phase(variant: string, side: string, metric: string, unit: Unit, samples: readonly number[]): Summary {
    const summary = summarize(samples)
    this.phases.push({ scenario: this.scenario, variant, side, metric, unit, summary })
    return summary
  }

  ratio(variant: string, name: string, a: number, b: number, goal?: Ratio['goal']): number {
    const value = ratio(a, b)
    this.ratios.push({ ...held(value, goal), scenario: this.scenario, variant, name })
    return value
  }

  /** A derived figure that is not a quotient (e.g. a difference in ms) held against a goal. */
  value(variant: string, name: string, value: number, goal?: Ratio['goal']): number {
    this.ratios.push({ ...held(value, goal), scenario: this.scenario, variant, name, kind: 'difference' })
    return value
  }

  unavailableFor(what: string, why: string): void {
    this.unavailable.push({ scenario: this.scenario, what, why })
  }

  note(text: string): void {
    this.notes.push(`${this.scenario}: ${text}`)
  }
}

function held(value: number, goal?: Ratio['goal']): Pick<Ratio, 'value' | 'goal' | 'met'> {
  const met = goal && Number.isFinite(value) ? (goal.op === '<=' ? value <= goal.target : value >= goal.target) : undefined
  return { value, goal, met }
}

export async function saveReport(file: string, report: BenchReport): Promise<void> {
  await fs.writeFile(file, JSON.stringify(report, null, 2) + '\n')
}

export async function loadReport(file: string): Promise<BenchReport> {
  const report = JSON.parse(await fs.readFile(file, 'utf8')) as BenchReport
  if (report.format !== 'qvacd-bench/1') throw new Error(`${file} is not a qvacd bench report (format ${String(report.format)})`)
  return report
}

export interface Comparison {
  key: string
  unit: Unit | 'ratio'
  old: number
  new: number
  /** new ÷ old; new − old for a difference. */
  change: number
  kind?: 'difference'
  regression: boolean
}

/** Higher is better for rates; lower for times. Ratios with a goal regress when they move away from it. */
function regressed(unit: Unit | 'ratio', change: number, threshold: number, goal?: Ratio['goal']): boolean {
  if (!Number.isFinite(change)) return false
  const worseIfLower = unit === 'tok/s' || unit === 'MB/s' || (unit === 'ratio' && goal?.op === '>=')
  const worseIfHigher = unit === 'ms' || (unit === 'ratio' && goal?.op === '<=')
  return (worseIfLower && change < 1 / (1 + threshold)) || (worseIfHigher && change > 1 + threshold)
}

/** Matches every p50 and every ratio of two reports; `threshold` 0.1 flags changes over 10 %. */
export function compareReports(old: BenchReport, current: BenchReport, threshold: number): Comparison[] {
  const rows: Comparison[] = []
  const oldPhases = new Map(old.phases.map((p) => [phaseKey(p), p]))
  for (const p of current.phases) {
    const before = oldPhases.get(phaseKey(p))
    if (!before) continue
    const change = ratio(p.summary.p50, before.summary.p50)
    rows.push({ key: `${phaseKey(p)} p50`, unit: p.unit, old: before.summary.p50, new: p.summary.p50, change, regression: regressed(p.unit, change, threshold) })
  }
  const oldRatios = new Map(old.ratios.map((r) => [ratioKey(r), r]))
  for (const r of current.ratios) {
    const before = oldRatios.get(ratioKey(r))
    if (!before) continue
    if (r.kind === 'difference') {
      // A difference near zero has no meaningful quotient: it regresses when it crosses its goal.
      rows.push({ key: ratioKey(r), unit: 'ratio', old: before.value, new: r.value, change: r.value - before.value, kind: 'difference', regression: before.met !== false && r.met === false })
      continue
    }
    const change = ratio(r.value, before.value)
    rows.push({ key: ratioKey(r), unit: 'ratio', old: before.value, new: r.value, change, regression: regressed('ratio', change, threshold, r.goal) })
  }
  return rows
}

export function phaseKey(p: Phase): string {
  return [p.scenario, p.variant, p.side, p.metric].filter(Boolean).join('/')
}

function ratioKey(r: Ratio): string {
  return [r.scenario, r.variant, r.name].filter(Boolean).join('/')
}
