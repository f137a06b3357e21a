/** A Prometheus/OpenMetrics histogram with labels: cumulative buckets, sum and count per label set. */
export class Histogram {
  readonly name: string
  readonly help: string
  readonly unit: string
  private readonly bounds: number[]
  private readonly series = new Map<string, { labels: Record<string, string>; buckets: number[]; sum: number; count: number }>()

  constructor(opts: { name: string; help: string; unit?: string; bounds: number[] }) {
    this.name = opts.name
    this.help = opts.help
    this.unit = opts.unit ?? ''
    this.bounds = opts.bounds
  }

  observe(value: number, labels: Record<string, string>): void {
    if (!Number.isFinite(value) || value < 0) return
    const key = JSON.stringify(labels)
    let s = this.series.get(key)
    if (!s) this.series.set(key, (s = { labels, buckets: this.bounds.map(() => 0), sum: 0, count: 0 }))
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]) s.buckets[i]++
    s.sum += value
    s.count++
  }

  /** The family in OpenMetrics text (no `# EOF`); nothing until the first observation. */
  lines(): string[] {
    if (this.series.size === 0) return []
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    if (this.unit) out.push(`# UNIT ${this.name} ${this.unit}`)
    for (const s of this.series.values()) {
      this.bounds.forEach((le, i) => out.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(le) })} ${s.buckets[i]}`))
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`)
      out.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`)
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`)
    }
    return out
  }
}

/** `{a="x",b="y"}`, values escaped as the exposition format asks; empty without labels. */
export function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}
