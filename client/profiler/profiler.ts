import { metricType } from '../../shared/profiler/metric-types.ts'
import { compileOperationFilters } from './operation-filter.ts'
import { toOpenMetrics } from './openmetrics.ts'
import { QuantileSketch } from '../../shared/profiler/sketch.ts'
import { formatProfileSummary } from './summary.ts'
import { formatMetricTable } from './table.ts'
import {
  OPERATION_EVENT_KEY,
  type CallRecord,
  type MetricSummary,
  type OperationEvent,
  type OperationKind,
  type ProfileExport,
  type ProfilerOptions
} from '../../shared/profiler/types.ts'

/** Records verbose mode keeps for exportJSON(): the most recent, in a ring. */
export const MAX_RECORDS = 1000
/** Distinct metric names kept; op names come from providers too, so a bad peer cannot grow memory. */
export const MAX_METRICS = 1000
/** Records recordLater() holds at most before it aggregates them at once (a caller in a tight loop). */
const MAX_PENDING = 256
/** How long recordLater() holds records before aggregating them (a read aggregates at once). */
export const RECORD_DELAY_MS = 10

const SERVER_FIELDS = ['decodeMs', 'queueMs', 'handlerMs', 'encodeMs', 'totalServerMs'] as const
const SERVER_LEAVES = SERVER_FIELDS.map((field) => `server.${field}`)
const DELEGATION_FIELDS = ['connectionMs', 'serverWaitMs', 'totalDelegationMs'] as const
const DELEGATION_LEAVES = DELEGATION_FIELDS.map((field) => `delegation.${field}`)
const KIND_LEAVES = new Map<string, string>(
  (['rpc', 'handler', 'download', 'load', 'inference', 'delegation'] satisfies OperationKind[]).map((kind) => [kind, `${kind}Ms`])
)

/**
 * Per-call records and per-metric aggregates (count, min, max, avg, sum, last, p50/p90/p95/p99)
 * in bounded memory. Off by default; while off, record() and observe() return before touching
 * anything, and callers must not take timestamps either: check `profiler.enabled` first.
 */
export class Profiler {
  private on = false
  private opts: Required<ProfilerOptions> = defaults()
  private keepEvent: ((event: OperationEvent) => boolean) | null = null
  private readonly sketches = new Map<string, QuantileSketch>()
  private readonly names = new Map<string, Map<string, string>>()
  private records: CallRecord[] = []
  /** Where the next record goes once the ring is full. */
  private ringHead = 0
  private readonly listeners = new Set<(record: CallRecord) => void>()
  /** Records handed over by recordLater(), aggregated RECORD_DELAY_MS later (see flushSoon) or at the next read. */
  private pending: CallRecord[] = []
  private flushScheduled = false
  /**
   * Once RECORD_DELAY_MS have passed, in the check phase: after the prepare phase, where UDX sends
   * what the caller wrote meanwhile (libudx holds a packet that is not full for a uv_prepare
   * handle), so aggregating never holds a request back. A batch of records per timer, not a turn
   * of the loop per call: two turns of the check phase per call (an immediate to let the loop go
   * round, then one to aggregate) were on every round trip of a caller in a loop (interleaved over
   * the swarm, profiled ÷ unprofiled ping p50: 1.044–1.133 → 1.029–1.060, p99 no worse).
   */
  private readonly flushSoon = () => setImmediate(this.flushLater)
  private readonly flushLater = () => {
    this.flushScheduled = false
    this.flush()
  }

  get enabled(): boolean {
    return this.on
  }

  get options(): Required<ProfilerOptions> {
    return { ...this.opts, operationFilters: [...this.opts.operationFilters] }
  }

  /** Turns profiling on; options not given take their defaults (summary mode, no server breakdown, no filters). */
  enable(opts: ProfilerOptions = {}): void {
    this.flush()
    this.opts = { ...defaults(), ...stripUndefined(opts) }
    this.opts.operationFilters = [...this.opts.operationFilters]
    this.keepEvent = compileOperationFilters(this.opts.operationFilters)
    if (this.opts.mode !== 'verbose') this.clearRecords()
    this.on = true
  }

  /** Stops recording; what was aggregated stays exportable until reset(). */
  disable(): void {
    this.flush()
    this.on = false
  }

  /** Calls `cb` with every record after it is aggregated; a listener that throws throws from record(). */
  onRecord(cb: (record: CallRecord) => void): () => void {
    this.flush()
    this.listeners.add(cb)
    return () => {
      this.listeners.delete(cb)
    }
  }

  /**
   * Like record(), once the caller has its result: the client hands each call's record over here,
   * so aggregating it (tens of sketch updates for a stream) never delays the value or the next
   * request. Aggregated RECORD_DELAY_MS later, once the event loop has sent what the caller wrote
   * (see flushSoon), or before anything reads the profiler; a listener that throws then throws from
   * that turn (an uncaught exception, as from an EventEmitter's listener) or from the read.
   */
  recordLater(call: CallRecord): void {
    if (!this.on) return
    this.pending.push(call)
    if (this.pending.length >= MAX_PENDING) this.flush()
    else if (!this.flushScheduled) {
      this.flushScheduled = true
      setTimeout(this.flushSoon, RECORD_DELAY_MS)
    }
  }

  /** Aggregates the records recordLater() holds, in order; every one even if a listener throws. */
  flush(): void {
    if (this.pending.length === 0) return
    const calls = this.pending
    this.pending = []
    let failure: { err: unknown } | null = null
    for (const call of calls) {
      try {
        this.record(call)
      } catch (err) {
        failure ??= { err }
      }
    }
    if (failure) throw failure.err
  }

  record(call: CallRecord): void {
    if (!this.on) return
    const keep = this.keepEvent
    const events = keep === null ? call.events : call.events.filter(keep)
    // Field by field: V8 copies `{ ...call }` on a slow path once a field is added (~2 µs a call).
    const record: CallRecord = {
      profileId: call.profileId,
      method: call.method,
      traceId: call.traceId,
      ts: call.ts,
      clientTotalMs: call.clientTotalMs,
      bytesSent: call.bytesSent,
      bytesReceived: call.bytesReceived,
      events
    }
    const server = call.serverBreakdown
    if (server) {
      record.serverBreakdown = server
      // Client and server clocks differ; skew must never show as negative overhead.
      record.clientOverheadMs = Math.max(0, call.clientTotalMs - server.totalServerMs)
    }
    if (call.delegationBreakdown) record.delegationBreakdown = call.delegationBreakdown

    const method = call.method
    this.observe(this.nameOf(method, 'clientTotalMs'), record.clientTotalMs)
    if (record.clientOverheadMs !== undefined) this.observe(this.nameOf(method, 'clientOverheadMs'), record.clientOverheadMs)
    if (server && this.opts.includeServerBreakdown) {
      SERVER_FIELDS.forEach((field, i) => this.observe(this.nameOf(method, SERVER_LEAVES[i]), server[field]))
    }
    this.observe(this.nameOf(method, 'bytesSent'), record.bytesSent)
    this.observe(this.nameOf(method, 'bytesReceived'), record.bytesReceived)
    const delegation = record.delegationBreakdown
    if (delegation) {
      DELEGATION_FIELDS.forEach((field, i) => this.observe(this.nameOf(method, DELEGATION_LEAVES[i]), delegation[field]))
    }
    for (const event of events) {
      const scope = event.hop > 0 ? `hop${event.hop}.${event.op}` : event.op
      for (const gauge in event.gauges) this.observe(this.nameOf(scope, gauge), event.gauges[gauge])
      this.observe(this.nameOf(scope, KIND_LEAVES.get(event.kind) ?? `${event.kind}Ms`), event.ms)
    }

    if (this.opts.mode === 'verbose') this.keepRecord(record)
    for (const listener of this.listeners) listener(record)
  }

  /** Aggregates one value under `metric`; its type follows from the name (see metricType). */
  observe(metric: string, value: number): void {
    if (!this.on || !Number.isFinite(value)) return
    let sketch = this.sketches.get(metric)
    if (sketch === undefined) {
      if (this.sketches.size >= MAX_METRICS) return
      sketch = new QuantileSketch()
      this.sketches.set(metric, sketch)
    }
    sketch.add(value)
  }

  metric(name: string): MetricSummary | undefined {
    this.flush()
    const sketch = this.sketches.get(name)
    return sketch === undefined ? undefined : summarize(name, sketch)
  }

  /** Aggregates by metric name; verbose mode adds the last records and their events, oldest first. */
  exportJSON(): ProfileExport {
    const out: ProfileExport = { mode: this.opts.mode, enabled: this.on, metrics: this.summaries() }
    if (this.opts.mode === 'verbose') {
      const records = [...this.records.slice(this.ringHead), ...this.records.slice(0, this.ringHead)]
      out.records = records
      out[OPERATION_EVENT_KEY] = records.flatMap((r) => r.events)
    }
    return out
  }

  exportTable(): string {
    return formatMetricTable(this.summaries())
  }

  exportSummary(): string {
    return formatProfileSummary(this.summaries())
  }

  /** OpenMetrics text for Prometheus; metric families are named `${prefix}_…`. */
  exportOpenMetrics(prefix = 'qvacd'): string {
    return toOpenMetrics(this.summaries(), prefix)
  }

  /** Forgets every aggregate and record; the enabled state and options stay. */
  reset(): void {
    this.pending = []
    this.sketches.clear()
    this.names.clear()
    this.clearRecords()
  }

  /** `${scope}.${leaf}`, built once: concatenating and hashing fresh names per call dominated record(). */
  private nameOf(scope: string, leaf: string): string {
    let leaves = this.names.get(scope)
    if (leaves === undefined) {
      if (this.names.size >= MAX_METRICS) return `${scope}.${leaf}`
      leaves = new Map()
      this.names.set(scope, leaves)
    }
    let name = leaves.get(leaf)
    if (name === undefined) {
      name = `${scope}.${leaf}`
      if (leaves.size < MAX_METRICS) leaves.set(leaf, name)
    }
    return name
  }

  private summaries(): Record<string, MetricSummary> {
    this.flush()
    const names = [...this.sketches.keys()].sort()
    return Object.fromEntries(names.map((name) => [name, summarize(name, this.sketches.get(name) as QuantileSketch)]))
  }

  private keepRecord(record: CallRecord): void {
    if (this.records.length < MAX_RECORDS) {
      this.records.push(record)
    } else {
      this.records[this.ringHead] = record
      this.ringHead = (this.ringHead + 1) % MAX_RECORDS
    }
  }

  private clearRecords(): void {
    this.records = []
    this.ringHead = 0
  }
}

function defaults(): Required<ProfilerOptions> {
  return { mode: 'summary', includeServerBreakdown: false, operationFilters: [] }
}

// `enable({ mode: undefined })` means the default, not "no mode".
function stripUndefined(opts: ProfilerOptions): ProfilerOptions {
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined))
}

function summarize(name: string, sketch: QuantileSketch): MetricSummary {
  return {
    type: metricType(name),
    count: sketch.count,
    min: sketch.min,
    max: sketch.max,
    avg: sketch.count === 0 ? 0 : sketch.sum / sketch.count,
    sum: sketch.sum,
    last: sketch.last,
    p50: sketch.quantile(0.5),
    p90: sketch.quantile(0.9),
    p95: sketch.quantile(0.95),
    p99: sketch.quantile(0.99)
  }
}
