import { QvacError } from '../../shared/errors.ts'

export interface Lease<T> {
  item: T
  queueMs: number
  release(): void
}

interface Waiter<T> {
  resolve(lease: Lease<T>): void
  reject(err: unknown): void
  since: number
}

/**
 * A model's context sequences as a FIFO scheduler: a stream gets a free sequence at once or waits
 * its turn; more than `maxQueueDepth` waiting is QUEUE_FULL. Concurrency = number of sequences.
 *
 * A free stream gets the first free item in the order given (the lowest sequence id), so N
 * concurrent streams run on sequences 0..N-1: llama.cpp decodes consecutive sequence ids in one
 * pass over the weights, and ids with gaps between them in several (see BatchDecoder.pick). A
 * round-robin free list had spread 32 streams over 5..31, 0..4 after a few single streams.
 */
export class SequencePool<T> {
  private readonly items: T[]
  /** Whether items[i] is free; acquire takes the lowest free index. */
  private readonly isFree: boolean[]
  private freeCount: number
  private readonly waiting: Waiter<T>[] = []
  private readonly maxQueueDepth: number
  private onIdle: (() => void) | null = null
  readonly size: number

  constructor(items: T[], maxQueueDepth: number) {
    this.items = [...items]
    this.isFree = items.map(() => true)
    this.freeCount = items.length
    this.size = items.length
    this.maxQueueDepth = maxQueueDepth
  }

  get active(): number {
    return this.size - this.freeCount
  }

  get queued(): number {
    return this.waiting.length
  }

  acquire(signal: AbortSignal): Promise<Lease<T>> {
    const since = performance.now()
    if (this.freeCount > 0) {
      const index = this.isFree.indexOf(true)
      this.isFree[index] = false
      this.freeCount--
      return Promise.resolve(this.lease(index, since))
    }
    if (this.waiting.length >= this.maxQueueDepth) {
      return Promise.reject(
        new QvacError('QUEUE_FULL', `all ${this.size} sequences busy and ${this.waiting.length} streams queued`, {
          details: { sequences: this.size, maxQueueDepth: this.maxQueueDepth }
        })
      )
    }
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason)
      const waiter: Waiter<T> = {
        since,
        resolve: (lease) => {
          signal.removeEventListener('abort', onabort)
          resolve(lease)
        },
        reject
      }
      const onabort = () => {
        const i = this.waiting.indexOf(waiter)
        if (i !== -1) this.waiting.splice(i, 1)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onabort, { once: true })
      this.waiting.push(waiter)
    })
  }

  /** Refuses the queued with `reason` and resolves once every leased item is back. */
  drain(reason: unknown): Promise<void> {
    for (const waiter of this.waiting.splice(0)) waiter.reject(reason)
    if (this.active === 0) return Promise.resolve()
    return new Promise((resolve) => (this.onIdle = resolve))
  }

  private lease(index: number, since: number): Lease<T> {
    let released = false
    return {
      item: this.items[index],
      queueMs: performance.now() - since,
      release: () => {
        if (released) return
        released = true
        const next = this.waiting.shift()
        if (next) return next.resolve(this.lease(index, next.since))
        this.isFree[index] = true
        this.freeCount++
        if (this.active === 0) this.onIdle?.()
      }
    }
  }
}
