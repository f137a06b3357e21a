import test from 'brittle'
import { parsePrometheusText } from './helpers/openmetrics.ts'
import { Profiler, MAX_RECORDS, MAX_METRICS, RECORD_DELAY_MS } from '../client/profiler/profiler.ts'
import { epochMs } from '../shared/profiler/clock.ts'
import { QuantileSketch, MAX_BUCKETS } from '../shared/profiler/sketch.ts'
import { metricType } from '../shared/profiler/metric-types.ts'
import { OPERATION_EVENT_KEY, type CallRecord, type OperationEvent } from '../shared/profiler/types.ts'
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatMetric,
  formatRate,
  formatThroughput
} from '../client/profiler/format-units.ts'


const SUMMARY_KEYS = ['avg', 'count', 'last', 'max', 'min', 'p50', 'p90', 'p95', 'p99', 'sum', 'type']

function event(fields: Partial<OperationEvent> & Pick<OperationEvent, 'op' | 'kind'>): OperationEvent {
  return { profileId: 'p1', traceId: 'ab12', peer: 'local', hop: 0, ts: 1_700_000_000_000, ms: 5, gauges: {}, tags: {}, ...fields }
}

function call(fields: Partial<CallRecord> = {}): CallRecord {
  return {
    profileId: 'p1',
    method: 'infer',
    traceId: 'ab12',
    ts: 1_700_000_000_000,
    clientTotalMs: 50,
    bytesSent: 120,
    bytesReceived: 4096,
    events: [],
    ...fields
  }
}

// A delegated infer: the daemon's handler event, then the provider's load and inference events.
function delegatedInfer(): CallRecord {
  return call({
    serverBreakdown: { decodeMs: 0.1, queueMs: 2, handlerMs: 40, encodeMs: 0.2, totalServerMs: 42.3 },
    delegationBreakdown: { connectionMs: 3, serverWaitMs: 30, totalDelegationMs: 35 },
    events: [
      event({ op: 'infer', kind: 'handler', ms: 41 }),
      event({ op: 'loadModel', kind: 'load', hop: 1, peer: 'providerkey', ms: 12, gauges: { totalLoadTime: 12 }, tags: { cacheHit: 'true' } }),
      event({
        op: 'infer',
        kind: 'inference',
        hop: 1,
        peer: 'providerkey',
        ms: 30,
        gauges: { timeToFirstToken: 8, tokensPerSecond: 2289.4, generatedTokens: 64 },
        tags: { stopReason: 'eos', backendDevice: 'cpu' }
      })
    ]
  })
}

// A fixed-seed generator, so the sketch tests see the same data every run.
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

function within(t: { ok(v: unknown, m?: string): void }, actual: number, expected: number, relative: number, what: string): void {
  t.ok(Math.abs(actual - expected) <= relative * Math.abs(expected), `${what}: ${actual} within ${relative * 100}% of ${expected}`)
}

test('exportJSON names every call, server, delegation and event metric by the contract', (t) => {
  const profiler = new Profiler()
  profiler.enable({ includeServerBreakdown: true })
  profiler.record(delegatedInfer())

  const out = profiler.exportJSON()
  t.alike(Object.keys(out).sort(), ['enabled', 'metrics', 'mode'], 'summary mode exports no records')
  t.is(out.mode, 'summary')
  t.is(out.enabled, true)
  t.alike(Object.keys(out.metrics), [
    'hop1.infer.generatedTokens',
    'hop1.infer.inferenceMs',
    'hop1.infer.timeToFirstToken',
    'hop1.infer.tokensPerSecond',
    'hop1.loadModel.loadMs',
    'hop1.loadModel.totalLoadTime',
    'infer.bytesReceived',
    'infer.bytesSent',
    'infer.clientOverheadMs',
    'infer.clientTotalMs',
    'infer.delegation.connectionMs',
    'infer.delegation.serverWaitMs',
    'infer.delegation.totalDelegationMs',
    'infer.handlerMs',
    'infer.server.decodeMs',
    'infer.server.encodeMs',
    'infer.server.handlerMs',
    'infer.server.queueMs',
    'infer.server.totalServerMs'
  ])
  const ttft = out.metrics['hop1.infer.timeToFirstToken']
  t.alike(Object.keys(ttft).sort(), SUMMARY_KEYS)
  t.alike(ttft, { type: 'duration', count: 1, min: 8, max: 8, avg: 8, sum: 8, last: 8, p50: 8, p90: 8, p95: 8, p99: 8 })
  t.is(out.metrics['infer.bytesReceived'].type, 'bytes')
  t.is(out.metrics['hop1.infer.tokensPerSecond'].type, 'rate')
  t.is(out.metrics['hop1.infer.generatedTokens'].type, 'count')
  t.is(profiler.metric('infer.clientOverheadMs')?.last, 50 - 42.3)
  t.is(profiler.metric('nothing.here'), undefined)
})

test('verbose mode exports the last records and their events, bounded by a ring', (t) => {
  const profiler = new Profiler()
  profiler.enable({ mode: 'verbose' })
  for (let i = 0; i < MAX_RECORDS + 5; i++) profiler.record(call({ profileId: `p${i}`, events: [event({ op: 'infer', kind: 'handler', profileId: `p${i}` })] }))

  const out = profiler.exportJSON()
  t.is(out.mode, 'verbose')
  t.is(out.records?.length, MAX_RECORDS)
  t.is(out.records?.[0].profileId, 'p5', 'oldest kept first')
  t.is(out.records?.[MAX_RECORDS - 1].profileId, `p${MAX_RECORDS + 4}`, 'newest last')
  t.is(out[OPERATION_EVENT_KEY]?.length, MAX_RECORDS)
  t.is(out[OPERATION_EVENT_KEY]?.[0].profileId, 'p5')
  t.is(out.metrics['infer.clientTotalMs'].count, MAX_RECORDS + 5, 'aggregates count every call')
  t.alike(JSON.parse(JSON.stringify(out)), out, 'the export is plain JSON')
})

test('clock skew never shows as negative client overhead', (t) => {
  const profiler = new Profiler()
  profiler.enable()
  const seen: CallRecord[] = []
  profiler.onRecord((r) => seen.push(r))
  const input = call({ clientTotalMs: 10, serverBreakdown: { decodeMs: 1, queueMs: 0, handlerMs: 12, encodeMs: 1, totalServerMs: 14 } })
  profiler.record(input)

  t.is(seen[0].clientOverheadMs, 0)
  t.is(profiler.metric('infer.clientOverheadMs')?.max, 0)
  t.is(input.clientOverheadMs, undefined, 'the caller’s record is not mutated')
  t.absent(profiler.metric('infer.server.totalServerMs'), 'server breakdown metrics only when asked')

  profiler.record(call({ clientTotalMs: 10 }))
  t.is(seen[1].clientOverheadMs, undefined, 'no overhead without a server breakdown')
  t.is(profiler.metric('infer.clientOverheadMs')?.count, 1)
})

test('operation filters keep matching events by op, kind or glob; call metrics stay', (t) => {
  const profiler = new Profiler()
  const seen: CallRecord[] = []
  profiler.onRecord((r) => seen.push(r))

  profiler.enable({ operationFilters: ['load*'] })
  profiler.record(delegatedInfer())
  t.alike(seen[0].events.map((e) => e.op), ['loadModel'])
  t.ok(profiler.metric('hop1.loadModel.totalLoadTime'))
  t.absent(profiler.metric('hop1.infer.timeToFirstToken'))
  t.absent(profiler.metric('infer.handlerMs'))
  t.is(profiler.metric('infer.clientTotalMs')?.count, 1)
  t.is(profiler.metric('infer.delegation.totalDelegationMs')?.count, 1)

  profiler.reset()
  profiler.enable({ operationFilters: ['inference', 'ping'] })
  profiler.record(delegatedInfer())
  t.alike(seen[1].events.map((e) => e.kind), ['inference'], 'a filter matches the kind')

  profiler.enable({ operationFilters: ['infer'] })
  profiler.record(delegatedInfer())
  t.alike(seen[2].events.map((e) => e.kind), ['handler', 'inference'], 'exact op, not a prefix of loadModel')

  profiler.enable({ operationFilters: ['in.er'] })
  profiler.record(delegatedInfer())
  t.is(seen[3].events.length, 0, 'a dot is literal, not a regex')

  profiler.enable()
  profiler.record(delegatedInfer())
  t.is(seen[4].events.length, 3, 'no filters keep everything')
  t.is(delegatedInfer().events.length, 3)
})

test('a disabled profiler records nothing and calls no listener', (t) => {
  const profiler = new Profiler()
  let calls = 0
  profiler.onRecord(() => calls++)
  t.is(profiler.enabled, false)
  profiler.record(delegatedInfer())
  profiler.observe('infer.clientTotalMs', 5)
  t.is(calls, 0)
  t.alike(profiler.exportJSON(), { mode: 'summary', enabled: false, metrics: {} })

  profiler.enable()
  profiler.record(call())
  profiler.disable()
  profiler.record(call())
  t.is(calls, 1)
  t.is(profiler.metric('infer.clientTotalMs')?.count, 1, 'aggregates survive disable() until reset()')
  profiler.reset()
  t.alike(profiler.exportJSON().metrics, {})
})

test('onRecord returns its unsubscribe; options fill in defaults', (t) => {
  const profiler = new Profiler()
  t.alike(profiler.options, { mode: 'summary', includeServerBreakdown: false, operationFilters: [] })
  profiler.enable({ mode: 'verbose', operationFilters: ['infer'] })
  t.alike(profiler.options, { mode: 'verbose', includeServerBreakdown: false, operationFilters: ['infer'] })
  let calls = 0
  const off = profiler.onRecord(() => calls++)
  profiler.record(call())
  off()
  profiler.record(call())
  t.is(calls, 1)
})

test('observe ignores non-finite values and stops adding names past the bound', (t) => {
  const profiler = new Profiler()
  profiler.enable()
  profiler.observe('x.nanMs', Number.NaN)
  t.absent(profiler.metric('x.nanMs'))
  for (let i = 0; i < MAX_METRICS + 10; i++) profiler.observe(`op${i}.waitMs`, i)
  t.is(Object.keys(profiler.exportJSON().metrics).length, MAX_METRICS)
  profiler.observe('op0.waitMs', 7)
  t.is(profiler.metric('op0.waitMs')?.count, 2, 'known names still aggregate')
})

test('metric types follow the name, never the value', (t) => {
  const cases: [string, string][] = [
    ['loadModel.totalLoadTime', 'duration'],
    ['hop1.infer.timeToFirstToken', 'duration'],
    ['infer.interTokenLatencyP95', 'duration'],
    ['infer.server.queueMs', 'duration'],
    ['ping.clientTotalMs', 'duration'],
    ['downloadAsset.checksumValidationTime', 'duration'],
    ['downloadAsset.totalBytesDownloaded', 'bytes'],
    ['downloadAsset.bytesResumed', 'bytes'],
    ['ping.bytesSent', 'bytes'],
    ['cache.evictedBytes', 'bytes'],
    ['cache.bytes', 'bytes'],
    ['loadModel.downloadSpeedBps', 'throughput'],
    ['replication.uploadBps', 'throughput'],
    ['infer.tokensPerSecond', 'rate'],
    ['infer.framesPerSecond', 'rate'],
    ['infer.promptTokens', 'count'],
    ['infer.generatedTokens', 'count'],
    ['infer.retries', 'count'],
    ['constructor', 'count'],
    ['ms', 'count']
  ]
  for (const [name, type] of cases) t.is(metricType(name), type, name)
})

test('sketch percentiles of 1..10000 are within 1% of the truth', (t) => {
  const sketch = new QuantileSketch()
  for (let v = 1; v <= 10000; v++) sketch.add(v)
  within(t, sketch.quantile(0.5), 5000, 0.01, 'p50')
  within(t, sketch.quantile(0.9), 9000, 0.01, 'p90')
  within(t, sketch.quantile(0.95), 9500, 0.01, 'p95')
  within(t, sketch.quantile(0.99), 9900, 0.01, 'p99')
  t.is(sketch.count, 10000)
  t.is(sketch.sum, 50005000)
  t.is(sketch.min, 1)
  t.is(sketch.max, 10000)
  t.is(sketch.last, 10000)
  t.is(sketch.quantile(0), 1)
  t.is(sketch.quantile(1), 10000)
})

test('sketch of a constant, of zeros and of one value is exact', (t) => {
  const constant = new QuantileSketch()
  for (let i = 0; i < 1000; i++) constant.add(42.5)
  for (const q of [0, 0.5, 0.99, 1]) t.is(constant.quantile(q), 42.5, `constant q${q}`)

  const zeros = new QuantileSketch()
  for (let i = 0; i < 100; i++) zeros.add(0)
  t.is(zeros.quantile(0.5), 0)
  t.is(zeros.quantile(0.99), 0)
  t.is(zeros.bucketCount, 0, 'zeros live in the zero bucket')

  const one = new QuantileSketch()
  one.add(0.0004)
  t.alike([one.min, one.max, one.quantile(0.5), one.quantile(0.99)], [0.0004, 0.0004, 0.0004, 0.0004])

  const mixed = new QuantileSketch()
  for (let i = 0; i < 90; i++) mixed.add(0)
  for (let i = 0; i < 10; i++) mixed.add(100)
  t.is(mixed.quantile(0.5), 0)
  t.is(mixed.quantile(0.95), 100)

  const empty = new QuantileSketch()
  t.is(empty.quantile(0.5), 0)
})

test('sketch clamps negatives to zero and ignores NaN and Infinity', (t) => {
  const sketch = new QuantileSketch()
  sketch.add(-5)
  sketch.add(Number.NaN)
  sketch.add(Number.POSITIVE_INFINITY)
  sketch.add(10)
  t.is(sketch.count, 2)
  t.is(sketch.min, 0)
  t.is(sketch.sum, 10)
  t.is(sketch.quantile(0), 0)
})

test('sketch stays within 1% over 1e-3 .. 1e9', (t) => {
  const rand = random(1)
  const values: number[] = []
  const sketch = new QuantileSketch()
  for (let i = 0; i < 100_000; i++) {
    const v = 10 ** (-3 + 12 * rand())
    values.push(v)
    sketch.add(v)
  }
  values.sort((a, b) => a - b)
  for (const q of [0.001, 0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999]) {
    within(t, sketch.quantile(q), values[Math.ceil(q * values.length) - 1], 0.0101, `q${q}`)
  }
  t.ok(sketch.bucketCount <= MAX_BUCKETS)
  t.comment(`1e-3 .. 1e9 uses ${sketch.bucketCount} buckets`)
})

test('sketch memory stays bounded after a million values spanning 1e-8 .. 1e12', (t) => {
  const rand = random(2)
  const sketch = new QuantileSketch()
  let top = 0
  for (let i = 0; i < 1_000_000; i++) {
    const v = 10 ** (-8 + 20 * rand())
    if (i >= 999_000) top = Math.max(top, v)
    sketch.add(v)
  }
  t.is(sketch.count, 1_000_000)
  t.is(sketch.bucketCount, MAX_BUCKETS, 'the lowest buckets were collapsed')
  within(t, sketch.quantile(0.99), 10 ** (-8 + 20 * 0.99), 0.05, 'p99 still right (sampling error aside)')
  within(t, sketch.quantile(0.5), 1e2, 0.05, 'p50 still right (sampling error aside)')
  t.ok(top <= sketch.max)

  const sequential = new QuantileSketch()
  for (let v = 1; v <= 1_000_000; v++) sequential.add(v)
  t.ok(sequential.bucketCount < 700, `1 .. 1e6 uses ${sequential.bucketCount} buckets`)
  within(t, sequential.quantile(0.99), 990_000, 0.01, 'p99 of 1..1e6')
})

test('durations print in µs, ms, s, minutes, hours and days', (t) => {
  t.is(formatDuration(0), '0 µs')
  t.is(formatDuration(0.0004), '0.40 µs')
  t.is(formatDuration(0.5), '500 µs')
  t.is(formatDuration(0.85), '850 µs')
  t.is(formatDuration(0.9999), '1.00 ms', 'rounding up moves to the next unit')
  t.is(formatDuration(1), '1.00 ms')
  t.is(formatDuration(12.34), '12.3 ms')
  t.is(formatDuration(999.4), '999 ms')
  t.is(formatDuration(1000), '1.00 s')
  t.is(formatDuration(4500), '4.50 s')
  t.is(formatDuration(59_999), '1m 0s')
  t.is(formatDuration(200_000), '3m 20s')
  t.is(formatDuration(7_500_000), '2h 5m')
  t.is(formatDuration(3 * 86_400_000), '3d 0h')
  t.is(formatDuration(-12.34), '-12.3 ms', 'a negative keeps its sign')
  t.is(formatDuration(Number.NaN), 'NaN')
})

test('bytes print in binary units, throughput in decimal units', (t) => {
  t.is(formatBytes(0), '0 B')
  t.is(formatBytes(512), '512 B')
  t.is(formatBytes(1023.6), '1.00 KiB')
  t.is(formatBytes(1024), '1.00 KiB')
  t.is(formatBytes(669_440), '654 KiB')
  t.is(formatBytes(85_899_346), '81.9 MiB')
  t.is(formatBytes(1e12), '931 GiB')
  t.is(formatBytes(5 * 1024 ** 4), '5.00 TiB')
  t.is(formatBytes(1e16), '9,095 TiB')
  t.is(formatBytes(-2048), '-2.00 KiB')

  t.is(formatThroughput(0), '0 B/s')
  t.is(formatThroughput(0.5), '0.50 B/s')
  t.is(formatThroughput(999), '999 B/s')
  t.is(formatThroughput(1023), '1,023 B/s')
  t.is(formatThroughput(1024), '1.00 KiB/s')
  t.is(formatThroughput(1_500_000), '1.43 MiB/s')
  t.is(formatThroughput(12.5 * 1024 ** 3), '12.5 GiB/s')
  t.is(formatThroughput(1e13), '9,313 GiB/s')
  t.is(formatThroughput(-1024), '-1.00 KiB/s')
})

test('rates and counts print with thousands separators', (t) => {
  t.is(formatRate(0), '0.00/s')
  t.is(formatRate(3.254), '3.25/s')
  t.is(formatRate(2289.44), '2,289.4/s')
  t.is(formatRate(-5), '-5.00/s')
  t.is(formatCount(0), '0')
  t.is(formatCount(12), '12')
  t.is(formatCount(1_234_567), '1,234,567')
  t.is(formatCount(12.5), '12.5')
  t.is(formatCount(-3), '-3')
  t.is(formatMetric('duration', 1000), '1.00 s')
  t.is(formatMetric('bytes', 1000), '1000 B')
  t.is(formatMetric('throughput', 1024), '1.00 KiB/s')
  t.is(formatMetric('rate', 1000), '1,000.0/s')
  t.is(formatMetric('count', 1000), '1,000')
})

test('exportTable has one row per metric, formatted by its type', (t) => {
  const profiler = new Profiler()
  profiler.enable()
  profiler.record(delegatedInfer())
  profiler.observe('loadModel.downloadSpeedBps', 12_500_000)
  const lines = profiler.exportTable().split('\n')
  t.alike(lines[0].split(/\s+/), ['METRIC', 'COUNT', 'MIN', 'AVG', 'P50', 'P95', 'P99', 'MAX'])
  t.is(lines.length, 1 + Object.keys(profiler.exportJSON().metrics).length)
  const row = (name: string) => lines.find((line) => line.startsWith(`${name} `)) ?? ''
  t.ok(row('hop1.infer.timeToFirstToken').includes('8.00 ms'), row('hop1.infer.timeToFirstToken'))
  t.ok(row('hop1.infer.tokensPerSecond').includes('2,289.4/s'), row('hop1.infer.tokensPerSecond'))
  t.ok(row('infer.bytesReceived').includes('4.00 KiB'), row('infer.bytesReceived'))
  t.ok(row('loadModel.downloadSpeedBps').includes('11.9 MiB/s'), row('loadModel.downloadSpeedBps'))
  t.ok(row('hop1.infer.generatedTokens').includes(' 64'), row('hop1.infer.generatedTokens'))
})

test('exportSummary gives calls per method and the key gauges', (t) => {
  const profiler = new Profiler()
  profiler.enable({ includeServerBreakdown: true })
  t.is(profiler.exportSummary(), 'no calls recorded')
  profiler.record(delegatedInfer())
  profiler.record(delegatedInfer())
  profiler.record(call({ method: 'ping', clientTotalMs: 0.8 }))
  const summary = profiler.exportSummary()
  const lines = summary.split('\n')
  t.ok(lines.some((l) => /^infer\s+2 calls\s+p50 50.0 ms\s+p95 50.0 ms$/.test(l)), 'infer calls')
  t.ok(lines.some((l) => /^ping\s+1 call\s+p50 800 µs\s+p95 800 µs$/.test(l)), 'ping call')
  t.ok(lines.some((l) => /^time to first token \(hop1\.infer\)\s+n=2\s+p50 8\.00 ms/.test(l)), 'TTFT')
  t.ok(lines.some((l) => /^tokens\/s \(hop1\.infer\)\s+n=2\s+p50 2,289\.4\/s/.test(l)), 'tokens/s')
  t.ok(lines.some((l) => /^load time \(hop1\.loadModel\)\s+n=2\s+p50 12\.0 ms/.test(l)), 'load time')
  t.absent(lines.some((l) => l.startsWith('infer.server')), 'a server breakdown is not a method')
})

test('exportSummary on a daemon counts calls by their server time', (t) => {
  const metrics = new Profiler()
  metrics.enable()
  metrics.observe('ping.totalServerMs', 0.2)
  metrics.observe('ping.totalServerMs', 0.3)
  metrics.observe('infer.timeToFirstToken', 9)
  const lines = metrics.exportSummary().split('\n')
  t.ok(/^ping\s+2 calls\s+p50 200 µs\s+p95 300 µs$/.test(lines[0]), lines[0])
  t.ok(/^time to first token \(infer\)\s+n=1\s+p50 9\.00 ms/.test(lines[1]), lines[1])
})

test('exportOpenMetrics is summaries in base units that a Prometheus parser reads', (t) => {
  const profiler = new Profiler()
  profiler.enable({ includeServerBreakdown: true })
  profiler.record(delegatedInfer())
  profiler.record(call({ clientTotalMs: 150, bytesReceived: 1024 }))
  profiler.observe('loadModel.downloadSpeedBps', 12_500_000)
  const text = profiler.exportOpenMetrics()
  t.ok(text.endsWith('\n# EOF\n'), 'ends with # EOF')

  const families = parsePrometheusText(text)
  const byName = new Map(families.map((f) => [f.name, f]))
  t.is(families.length, Object.keys(profiler.exportJSON().metrics).length, 'one family per metric')
  for (const family of families) {
    t.is(family.type, 'SUMMARY', `${family.name} is a summary`)
    t.ok(/^qvacd_[a-z0-9_]+$/.test(family.name), `${family.name} is sanitized`)
    t.alike(Object.keys(family.metrics[0].quantiles ?? {}), ['0.5', '0.9', '0.95', '0.99'])
  }

  const total = byName.get('qvacd_infer_client_total_seconds')
  t.is(total?.help, 'infer.clientTotalMs (duration)')
  t.is(total?.metrics[0].count, '2')
  t.is(Number(total?.metrics[0].sum), 0.2, 'milliseconds become seconds')
  t.is(Number(total?.metrics[0].quantiles?.['0.99']), 0.15)
  t.is(Number(byName.get('qvacd_hop1_infer_time_to_first_token_seconds')?.metrics[0].sum), 0.008)
  t.is(Number(byName.get('qvacd_infer_received_bytes')?.metrics[0].sum), 4096 + 1024)
  t.is(Number(byName.get('qvacd_load_model_download_speed_bytes_per_second')?.metrics[0].sum), 12_500_000)
  t.ok(byName.has('qvacd_hop1_infer_tokens_per_second'))
  t.ok(byName.has('qvacd_hop1_infer_generated_tokens'))
  t.ok(byName.has('qvacd_infer_server_queue_seconds'))

  // The parser skips OpenMetrics' UNIT lines as comments; check them against the family names here.
  const units = [...text.matchAll(/^# UNIT (\S+) (\S+)$/gm)]
  t.ok(units.length > 0)
  for (const [, family, unit] of units) t.ok(family.endsWith(`_${unit}`), `${family} ends with its unit ${unit}`)
  t.ok(text.includes('# UNIT qvacd_infer_client_total_seconds seconds'))
  t.absent(/# UNIT qvacd_hop1_infer_generated_tokens/.test(text), 'counts have no unit')

  t.ok(new Profiler().exportOpenMetrics('my-app').startsWith('# EOF'), 'no metrics: just # EOF')
  profiler.reset()
  profiler.observe('infer.waitMs', 1)
  t.ok(profiler.exportOpenMetrics('my-app').includes('# TYPE my_app_infer_wait_seconds summary'), 'the prefix is sanitized')
})

test('recordLater aggregates after the caller goes on: a batch a few ms later, after the loop has sent what the caller wrote, or before any read, in order', async (t) => {
  const profiler = new Profiler()
  profiler.enable({ mode: 'verbose' })
  const seen: string[] = []
  profiler.onRecord((r) => seen.push(r.profileId))
  profiler.recordLater(call({ profileId: 'a' }))
  profiler.recordLater(call({ profileId: 'b' }))
  t.alike(seen, [], 'nothing aggregated inside the call')
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
  t.alike(seen, [], 'not on the next turns of the loop: one batch per RECORD_DELAY_MS, not a turn per call')
  await new Promise((resolve) => setTimeout(resolve, RECORD_DELAY_MS))
  await new Promise((resolve) => setImmediate(resolve))
  t.alike(seen, ['a', 'b'], 'aggregated once the delay has passed, in order')

  profiler.recordLater(call({ profileId: 'c', clientTotalMs: 7 }))
  t.is(profiler.metric('infer.clientTotalMs')?.last, 7, 'a read aggregates first')
  t.alike(seen, ['a', 'b', 'c'])
  profiler.recordLater(call({ profileId: 'd' }))
  t.is(profiler.exportJSON().records?.at(-1)?.profileId, 'd')
  profiler.recordLater(call({ profileId: 'e' }))
  profiler.disable()
  t.alike(seen.at(-1), 'e', 'a record made while on counts even if the profiler goes off before the next turn')
  profiler.recordLater(call({ profileId: 'f' }))
  profiler.enable()
  profiler.recordLater(call({ profileId: 'g' }))
  profiler.reset()
  await new Promise((resolve) => setTimeout(resolve, RECORD_DELAY_MS * 2))
  t.alike(seen, ['a', 'b', 'c', 'd', 'e'], 'off records nothing; reset drops what was not aggregated yet')

  for (let i = 0; i < 1000; i++) profiler.recordLater(call({ profileId: `x${i}` }))
  t.ok(seen.length >= 5 + 1000 - 256, 'a tight loop of calls holds a bounded number back')
})

test('recordLater: a listener that throws loses no record and throws from the read', (t) => {
  const profiler = new Profiler()
  profiler.enable()
  let calls = 0
  profiler.onRecord(() => {
    if (calls++ === 0) throw new Error('listener bug')
  })
  profiler.recordLater(call())
  profiler.recordLater(call())
  t.exception(() => profiler.metric('infer.clientTotalMs'), /listener bug/)
  t.is(calls, 2)
  t.is(profiler.metric('infer.clientTotalMs')?.count, 2, 'both aggregated')
})

test('epochMs: a performance.now() reading as the wall clock, to the millisecond, without a read of its own', (t) => {
  const before = Date.now()
  const now = performance.now()
  const at = epochMs(now)
  const after = Date.now()
  t.ok(at >= before - 1 && at <= after + 1, `${at} within [${before}, ${after}] ± 1 ms`)
  t.ok(Math.abs(epochMs(now - 250) - (at - 250)) < 1e-6, 'earlier readings, the same offset')
  t.ok(Math.abs(epochMs(now + 0.5) - (at + 0.5)) < 1e-6, 'within the second, no new read')
  const later = epochMs(now + 5000)
  t.ok(Math.abs(later - (Date.now() + 5000 - (performance.now() - now))) <= 2, 'read again once a second has passed')
})
