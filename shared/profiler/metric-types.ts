import type { MetricType } from './types.ts'

// The gauges DESIGN.md names, and the call-level names the profiler makes; the type follows the name.
const KNOWN = new Map<string, MetricType>([
  ['totalLoadTime', 'duration'],
  ['modelInitializationTime', 'duration'],
  ['downloadTime', 'duration'],
  ['totalDownloadTime', 'duration'],
  ['checksumValidationTime', 'duration'],
  ['timeToFirstToken', 'duration'],
  ['promptEvalTime', 'duration'],
  ['interTokenLatencyP50', 'duration'],
  ['interTokenLatencyP95', 'duration'],
  ['totalTime', 'duration'],
  ['queueMs', 'duration'],
  ['totalBytesDownloaded', 'bytes'],
  ['bytesResumed', 'bytes'],
  ['bytesSent', 'bytes'],
  ['bytesReceived', 'bytes'],
  ['downloadSpeedBps', 'throughput'],
  ['tokensPerSecond', 'rate'],
  ['promptTokens', 'count'],
  ['generatedTokens', 'count']
])

/**
 * The type of a metric, from its name only (the last dot-separated part), never from a value:
 * a known gauge, else by suffix (…Ms/…Time duration, …Bytes/…bytes bytes, …Bps throughput,
 * …PerSecond rate), else a count.
 */
export function metricType(name: string): MetricType {
  const leaf = name.slice(name.lastIndexOf('.') + 1)
  const known = KNOWN.get(leaf)
  if (known) return known
  if (leaf.endsWith('PerSecond')) return 'rate'
  if (leaf.endsWith('Bps')) return 'throughput'
  if (leaf.endsWith('Ms') || leaf.endsWith('Time')) return 'duration'
  if (leaf.endsWith('Bytes') || leaf.endsWith('bytes')) return 'bytes'
  return 'count'
}
