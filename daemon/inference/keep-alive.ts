import type { Logger } from '../log.ts'
import type { ModelManager } from './model-manager.ts'

/**
 * Unloads models idle longer than the keep-alive, as `ollama serve` does (OLLAMA_KEEP_ALIVE):
 * a sweep every quarter of it (between 100 ms and 30 s), so a model goes at most that late.
 */
export class KeepAlive {
  readonly ms: number
  private readonly models: ModelManager
  private readonly log: Logger
  private timer: NodeJS.Timeout | null = null
  private sweeping: Promise<void> | null = null

  constructor(opts: { ms: number; models: ModelManager; log: Logger }) {
    this.ms = opts.ms
    this.models = opts.models
    this.log = opts.log
  }

  start(): void {
    if (this.ms <= 0 || this.timer) return
    this.timer = setInterval(() => this.sweep(), Math.min(30_000, Math.max(100, this.ms / 4)))
    this.timer.unref()
  }

  /** When a model last used at `lastUsedAt` will be unloaded if it stays idle (0: never). */
  expiresAt(lastUsedAt: number): number {
    return this.ms > 0 ? lastUsedAt + this.ms : 0
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.sweeping
  }

  private sweep(): void {
    if (this.sweeping) return
    this.sweeping = this.models
      .unloadIdle(this.ms)
      .then(
        (freed) => {
          for (const modelId of freed) this.log.info(`unloaded ${modelId}: idle for ${this.ms} ms (keep-alive)`)
        },
        (err) => this.log.error('keep-alive sweep failed', err)
      )
      .finally(() => (this.sweeping = null))
  }
}
