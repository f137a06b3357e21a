import { plainTable } from './table.ts'
import type { MetricSummary } from '../../shared/profiler/types.ts'
import type { DaemonStatus } from '../../client/index.ts'
import { formatKey } from '../../shared/keys.ts'
import { formatBytes, formatDuration } from './units.ts'

/** The status as plain JSON: keys as printed (z32), the topic in hex. */
export function statusToJson(status: DaemonStatus) {
  return {
    publicKey: formatKey(status.publicKey),
    topic: status.topic.toString('hex'),
    topicName: status.topicName,
    version: status.version,
    protocolVersion: status.protocolVersion,
    startedAt: new Date(status.startedAt).toISOString(),
    uptimeMs: status.uptimeMs,
    peers: status.peers.map((p) => ({
      publicKey: formatKey(p.publicKey),
      connectedAt: new Date(p.connectedAt).toISOString(),
      calls: p.calls,
      inFlight: p.inFlight
    })),
    models: status.models.map((m) => ({ ...m, loadedAt: new Date(m.loadedAt).toISOString() })),
    streams: status.streams.map((s) => ({ ...s, peer: s.peer ? formatKey(s.peer) : 'local' })),
    inFlight: status.inFlight,
    methods: status.methods,
    metrics: status.metrics,
    peerLimits: status.peerLimits,
    peerUsage: status.peerUsage.map((p) => ({ ...p, publicKey: formatKey(p.publicKey) })),
    backend: status.backend
  }
}

/** The short operator table `qvacd status` prints, in the spirit of `ollama ps`. */
export function statusToTable(status: DaemonStatus): string {
  const summary = plainTable()
  summary.push(
    ['PUBLIC KEY', formatKey(status.publicKey)],
    ['TOPIC', `${status.topicName} (${status.topic.toString('hex').slice(0, 16)}…)`],
    ['VERSION', `${status.version} (protocol ${status.protocolVersion})`],
    ['UPTIME', formatDuration(status.uptimeMs)],
    ['PEERS', String(status.peers.length)],
    ['MODELS', status.models.length === 0 ? 'none loaded' : String(status.models.length)],
    ['STREAMS', `${status.streams.length} open`],
    ['IN FLIGHT', String(status.inFlight)],
    ['BACKEND', status.backend || 'unknown'],
    ['TTFT', percentiles(status.metrics['infer.timeToFirstToken'], formatDuration)],
    ['TOKENS/S', percentiles(status.metrics['infer.tokensPerSecond'], (v) => v.toFixed(1))]
  )
  const parts = [summary.toString()]

  const called = status.methods.filter((m) => m.calls > 0)
  if (called.length > 0) {
    const calls = plainTable(['METHOD', 'CALLS', 'ERRORS', 'P50', 'P95'])
    for (const m of called) {
      const latency = status.metrics[`${m.method}.totalServerMs`]
      calls.push([m.method, m.calls, m.errors, latency ? formatDuration(latency.p50) : '-', latency ? formatDuration(latency.p95) : '-'])
    }
    parts.push(calls.toString())
  }

  const now = status.startedAt + status.uptimeMs
  if (status.models.length > 0) {
    const models = plainTable(['MODEL', 'SOURCE', 'SIZE', 'REFS', 'STREAMS', 'QUEUED', 'LOAD', 'LOADED'])
    for (const m of status.models) {
      models.push([
        m.modelId,
        m.source,
        formatBytes(m.sizeBytes),
        m.references,
        `${m.activeStreams}/${m.sequences}`,
        m.queuedStreams,
        formatDuration(m.totalLoadTime),
        `${formatDuration(now - m.loadedAt)} ago`
      ])
    }
    parts.push(models.toString())
  }

  if (status.streams.length > 0) {
    const streams = plainTable(['STREAM', 'MODEL', 'PEER', 'STATE', 'TOKENS', 'FRAMES', 'CREDITS'])
    for (const s of status.streams) {
      streams.push([s.streamId, s.modelId, s.peer ? formatKey(s.peer).slice(0, 12) : 'local', s.state, s.generatedTokens, s.framesSent, s.credits])
    }
    parts.push(streams.toString())
  }

  if (status.peers.length > 0) {
    const peers = plainTable(['PEER', 'CONNECTED', 'CALLS', 'IN FLIGHT'])
    for (const p of status.peers) {
      peers.push([formatKey(p.publicKey), `${formatDuration(now - p.connectedAt)} ago`, p.calls, p.inFlight])
    }
    parts.push(peers.toString())
  }
  if (status.peerUsage.length > 0) {
    const l = status.peerLimits
    const usage = plainTable(['PEER', 'STREAMS', 'QUEUED', 'LOADS/MIN', 'DOWNLOADED/H', 'REFUSED'])
    for (const p of status.peerUsage) {
      usage.push([
        formatKey(p.publicKey).slice(0, 12),
        `${p.activeStreams}/${l.maxStreams}`,
        `${p.queuedStreams}/${l.maxQueued}`,
        `${p.loadsLastMinute}/${l.loadsPerMinute}`,
        `${formatBytes(p.bytesDownloadedLastHour)}/${formatBytes(l.downloadBytesPerHour)}`,
        p.refusals
      ])
    }
    parts.push(usage.toString())
  }
  return parts.join('\n\n').replace(/ +$/gm, '')
}

function percentiles(metric: MetricSummary | undefined, format: (v: number) => string): string {
  return metric ? `p50 ${format(metric.p50)}  p95 ${format(metric.p95)}  (${metric.count} streams)` : '-'
}
