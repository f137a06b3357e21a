import os from 'node:os'
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp'
import type { Logger } from '../log.ts'

/** STACK.md: with threads = all cores the prebuilt backend ran 1.6–4.5× slower; leave one core to Node. */
export function defaultThreads(): number {
  return Math.max(1, os.availableParallelism() - 1)
}

/**
 * The node-llama-cpp runtime, created on first use (it takes about a second) and shared by every
 * model of the daemon. Never builds or downloads anything: the prebuilt binary from the npm
 * package is used, or loading fails with a clear error.
 */
export class LlamaBackend {
  private readonly log: Logger
  private readonly gpu: 'auto' | false
  private llama: Promise<Llama> | null = null

  constructor(opts: { log: Logger; gpu?: 'auto' | false }) {
    this.log = opts.log
    this.gpu = opts.gpu ?? 'auto'
  }

  get(): Promise<Llama> {
    if (!this.llama) {
      this.llama = getLlama({
        gpu: this.gpu,
        build: 'never',
        logLevel: this.log.level === 'debug' || this.log.level === 'trace' ? LlamaLogLevel.info : LlamaLogLevel.warn,
        // llama.cpp's own warnings and errors at their level; its chatter only at debug.
        logger: (level, message) => {
          const text = `llama.cpp: ${message.trim()}`
          if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) this.log.error(text)
          else if (level === LlamaLogLevel.warn) this.log.warn(text)
          else this.log.debug(text)
        }
      })
      this.llama.catch(() => {
        this.llama = null
      })
    }
    return this.llama
  }

  async close(): Promise<void> {
    const llama = this.llama
    this.llama = null
    if (llama) await llama.then((l) => l.dispose(), () => {})
  }
}
