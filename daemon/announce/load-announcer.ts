import c from 'compact-encoding'
import type ProtomuxRPC from 'protomux-rpc'
import { loadReport, type LoadReport, type ModelLoad } from '../../shared/messages.ts'
import type { MetricSummary } from '../../shared/profiler/types.ts'
import { SOFTWARE_VERSION } from '../../shared/version.ts'

/** What the announcer reads from the daemon, live. */
export interface LoadSource {
  models(): Omit<ModelLoad, 'sha256'>[]
  /** The model file's hash ('' while unknown). */
  sha256(modelId: string): string
  openStreams(): number
  metrics(): Record<string, MetricSummary>
  backend(): string
  threads: number
  /** The peers' channels to announce to. */
  channels(): Iterable<ProtomuxRPC>
}

// Checked for changes this often; sent at most this often on change; and at least this often,
// so a silent daemon is a lost daemon within a few intervals (the client's heartbeat).
const CHECK_MS = 100
const MIN_INTERVAL_MS = 250
export const HEARTBEAT_MS = 1000

/**
 * Pushes the daemon's `load` report to every connected peer: soon after it changes (never more
 * than 4 a second) and every second regardless.
 */
export class LoadAnnouncer {
  private readonly source: LoadSource
  private timer: NodeJS.Timeout | null = null
  private seq = 0
  private lastSent = 0
  private lastShape = ''

  constructor(source: LoadSource) {
    this.source = source
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), CHECK_MS)
    this.timer.unref()
  }

  /** The report as it stands now (also what `status` carries). */
  report(): LoadReport {
    const metrics = this.source.metrics()
    const models = this.models()
    return {
      seq: this.seq,
      version: SOFTWARE_VERSION,
      backend: this.source.backend(),
      threads: this.source.threads,
      openStreams: this.source.openStreams(),
      queued: models.reduce((n, m) => n + m.queued, 0),
      ttftP50: metrics['infer.timeToFirstToken']?.p50 ?? 0,
      tokensPerSecondP50: metrics['infer.tokensPerSecond']?.p50 ?? 0,
      models
    }
  }

  /** Sends the current report to every peer now (a peer just joined, say). */
  announce(): void {
    this.seq++
    const report = this.report()
    this.lastShape = shape(report.models, report.openStreams)
    this.lastSent = Date.now()
    const value = c.encode(loadReport, report)
    for (const rpc of this.source.channels()) {
      try {
        rpc.event('load', value, { requestEncoding: c.raw })
      } catch {
        // A channel closing right now: its peer is gone anyway.
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  private tick(): void {
    const since = Date.now() - this.lastSent
    if (since >= HEARTBEAT_MS) return this.announce()
    if (since >= MIN_INTERVAL_MS && shape(this.models(), this.source.openStreams()) !== this.lastShape) this.announce()
  }

  private models(): ModelLoad[] {
    return this.source.models().map((m) => ({ ...m, sha256: this.source.sha256(m.modelId) }))
  }
}

/** The part of a report whose change is worth an announcement before the next heartbeat. */
function shape(models: ModelLoad[], openStreams: number): string {
  return `${openStreams}|${models.map((m) => `${m.modelId}:${m.busy}:${m.queued}:${m.sha256 !== ''}`).join(',')}`
}
