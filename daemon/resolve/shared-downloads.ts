import type { DownloadMetricsHooks } from '../../shared/download-stats.ts'
import { QvacError } from '../../shared/errors.ts'
import { abortError } from './abort.ts'
import { DownloadReporter } from './progress.ts'

export type DownloadTask<T> = (signal: AbortSignal, reporter: DownloadReporter) => Promise<T>

interface Running<T> {
  controller: AbortController
  reporter: DownloadReporter
  result: Promise<T>
  /** Settles (never rejects) once the task is over, its files closed. */
  settled: Promise<void>
  waiters: number
}

/**
 * Concurrent resolves of one source share one download. Each caller waits with its own signal;
 * when the last one gives up the download is aborted, and a caller arriving meanwhile waits for
 * it to wind down (its partial file closed) before a new one starts.
 */
export class SharedDownloads {
  private readonly running = new Map<string, Running<unknown>>()
  private closed = false

  async run<T>(key: string, task: DownloadTask<T>, opts: { hooks?: DownloadMetricsHooks; signal?: AbortSignal } = {}): Promise<T> {
    let entry = this.running.get(key) as Running<T> | undefined
    while (entry?.controller.signal.aborted) {
      await entry.settled
      entry = this.running.get(key) as Running<T> | undefined
    }
    if (opts.signal?.aborted) throw abortError(opts.signal)
    if (this.closed) throw new QvacError('REQUEST_ABORTED', 'the resolver is closing')
    return this.wait(entry ?? this.start(key, task), opts)
  }

  /** Aborts every download and waits until all have let go of their files. */
  async close(): Promise<void> {
    this.closed = true
    const all = [...this.running.values()]
    for (const entry of all) entry.controller.abort()
    await Promise.all(all.map((entry) => entry.settled))
  }

  private start<T>(key: string, task: DownloadTask<T>): Running<T> {
    const controller = new AbortController()
    const reporter = new DownloadReporter()
    const result = task(controller.signal, reporter)
    const settled = result.then(
      () => {},
      () => {}
    )
    const entry: Running<T> = { controller, reporter, result, settled, waiters: 0 }
    this.running.set(key, entry)
    settled.then(() => {
      if (this.running.get(key) === entry) this.running.delete(key)
    })
    return entry
  }

  private wait<T>(entry: Running<T>, opts: { hooks?: DownloadMetricsHooks; signal?: AbortSignal }): Promise<T> {
    const { hooks, signal } = opts
    entry.waiters++
    entry.reporter.add(hooks)
    return new Promise<T>((resolve, reject) => {
      let left = false
      const leave = () => {
        if (left) return
        left = true
        signal?.removeEventListener('abort', onabort)
        entry.reporter.delete(hooks)
        entry.waiters--
      }
      const onabort = () => {
        if (left) return
        leave()
        if (entry.waiters === 0) entry.controller.abort()
        reject(abortError(signal as AbortSignal))
      }
      signal?.addEventListener('abort', onabort, { once: true })
      entry.result.then(
        (value) => {
          leave()
          resolve(value)
        },
        (err) => {
          leave()
          reject(err)
        }
      )
    })
  }
}
