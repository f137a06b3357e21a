import b4a from 'b4a'
import type { Handler } from './router.ts'
import type { LoadReport, MethodStatus, ModelStatus, PeerLimitSettings, PeerStatus, PeerUsage, StreamStatus } from '../../shared/messages.ts'
import type { MetricSummary } from '../../shared/profiler/types.ts'
import { PROTOCOL_VERSION, SOFTWARE_VERSION } from '../../shared/version.ts'

/** What `status` reports, read live from the daemon's parts. */
export interface StatusSource {
  publicKey: Buffer
  topic: Buffer
  topicName: string
  startedAt: number
  peers(): PeerStatus[]
  models(): ModelStatus[]
  streams(): StreamStatus[]
  inFlight(): number
  methods(): MethodStatus[]
  metrics(): Record<string, MetricSummary>
  peerLimits: PeerLimitSettings
  peerUsage(): PeerUsage[]
  /** A model's source as a remote peer may see it (no host paths). */
  shownToRemote(source: string): string
  backend(): string
  load(): LoadReport
}

export function statusHandler(source: StatusSource): Handler<'status'> {
  return (_body, ctx) => {
    const now = Date.now()
    const asker = ctx.caller.publicKey
    return {
      publicKey: source.publicKey,
      topic: source.topic,
      topicName: source.topicName,
      version: SOFTWARE_VERSION,
      protocolVersion: PROTOCOL_VERSION,
      startedAt: source.startedAt,
      uptimeMs: now - source.startedAt,
      // The status call asking is itself in flight; the operator wants the others.
      peers: source.peers().map((p) => (asker && b4a.equals(p.publicKey, asker) ? { ...p, inFlight: p.inFlight - 1 } : p)),
      models: asker ? source.models().map((m) => ({ ...m, source: source.shownToRemote(m.source) })) : source.models(),
      streams: source.streams(),
      inFlight: Math.max(0, source.inFlight() - 1),
      methods: source.methods(),
      metrics: source.metrics(),
      peerLimits: source.peerLimits,
      peerUsage: source.peerUsage(),
      backend: source.backend(),
      load: source.load()
    }
  }
}
