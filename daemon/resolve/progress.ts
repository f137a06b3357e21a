import type { DownloadMetricsHooks, DownloadProgress } from '../../shared/download-stats.ts'

export const PROGRESS_INTERVAL_MS = 150

/**
 * One download's hooks fan-out: every waiter sharing the download gets its progress (throttled to
 * one call per PROGRESS_INTERVAL_MS, plus the final state) and checksum events. A hook that throws
 * is the caller's bug and must not fail a download other callers wait on, so it is ignored.
 */
export class DownloadReporter {
  private readonly listeners = new Set<DownloadMetricsHooks>()
  private readonly startedAt = performance.now()
  private lastEmit = -Infinity
  private latest: DownloadProgress | null = null
  private emitted: DownloadProgress | null = null

  add(hooks: DownloadMetricsHooks | undefined): void {
    if (hooks) this.listeners.add(hooks)
  }

  delete(hooks: DownloadMetricsHooks | undefined): void {
    if (hooks) this.listeners.delete(hooks)
  }

  /** `bytes` on disk so far (resumed ones included); `fetched` by this transfer, for the speed. */
  progress(bytes: number, total: number | null, fetched: number): void {
    const now = performance.now()
    const seconds = (now - this.startedAt) / 1000
    this.latest = { bytes, total, speedBps: seconds > 0 ? Math.round(fetched / seconds) : 0 }
    if (now - this.lastEmit < PROGRESS_INTERVAL_MS) return
    this.lastEmit = now
    this.emitProgress(this.latest)
  }

  /** Emits the last state if the throttle held it back, so a bar always ends at 100 %. */
  flush(): void {
    if (this.latest && this.latest !== this.emitted) this.emitProgress(this.latest)
  }

  checksumStart(): void {
    for (const hooks of this.listeners) call(() => hooks.onChecksumStart?.())
  }

  checksumEnd(result: { ok: boolean; ms: number }): void {
    for (const hooks of this.listeners) call(() => hooks.onChecksumEnd?.(result))
  }

  private emitProgress(progress: DownloadProgress): void {
    this.emitted = progress
    for (const hooks of this.listeners) call(() => hooks.onProgress?.(progress))
  }
}

function call(fn: () => void): void {
  try {
    fn()
  } catch {}
}
