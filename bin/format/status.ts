import { plainTable } from './table.ts'
import type { MetricSummary } from '../../shared/profiler/types.ts'
import type { DaemonStatus } from '../../client/index.ts'
import type { TopicDaemon } from '../../client/topic/topic-status.ts'
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

/** `status --topic --json`: every daemon of the topic with its load and round-trip time. */
export function topicStatusToJson(topic: string, daemons: TopicDaemon[], answeredInMs: number) {
  return {
    topic,
    /** From the lookup to the last status: the swarm's part of the command's time. */
    answeredInMs,
    daemons: daemons.map(({ publicKey, status, rttMs }) => ({
      publicKey,
      version: status.version,
      rttMs,
      uptimeMs: status.uptimeMs,
      load: status.load ?? null,
      models: status.models.map((m) => ({ modelId: m.modelId, source: m.source, sequences: m.sequences, busy: m.activeStreams, queued: m.queuedStreams })),
      streams: status.streams.length,
      peers: status.peers.length
    }))
  }
}

/** `status --topic`: one line per daemon (and per model it has loaded). */
export function topicStatusToTable(topic: string, daemons: TopicDaemon[]): string {
  if (daemons.length === 0) return `no daemon reachable on topic ${topic}`
  const table = plainTable(['DAEMON', 'VERSION', 'RTT', 'MODELS', 'BUSY/SEQ', 'QUEUED', 'TTFT P50', 'TOK/S P50', 'STREAMS'])
  for (const { publicKey, status, rttMs } of daemons) {
    const busy = status.models.reduce((n, m) => n + m.activeStreams, 0)
    const sequences = status.models.reduce((n, m) => n + m.sequences, 0)
    const queued = status.models.reduce((n, m) => n + m.queuedStreams, 0)
    const ttft = status.load?.ttftP50 ?? status.metrics['infer.timeToFirstToken']?.p50 ?? 0
    const tps = status.load?.tokensPerSecondP50 ?? status.metrics['infer.tokensPerSecond']?.p50 ?? 0
    table.push([
      publicKey,
      status.version,
      `${rttMs.toFixed(1)} ms`,
      status.models.length === 0 ? '-' : status.models.map((m) => m.source.split('/').pop()).join(','),
      `${busy}/${sequences}`,
      queued,
      ttft > 0 ? formatDuration(ttft) : '-',
      tps > 0 ? tps.toFixed(1) : '-',
      status.streams.length
    ])
  }
  return `${daemons.length} daemon${daemons.length === 1 ? '' : 's'} on topic ${topic}\n\n${table.toString().replace(/ +$/gm, '')}`
}
