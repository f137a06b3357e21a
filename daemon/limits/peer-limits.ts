import b4a from 'b4a'
import { QvacError } from '../../shared/errors.ts'
import type { MethodName, PeerUsage, ResponseOf } from '../../shared/messages.ts'
import type { CallerInfo, Handler } from '../rpc/router.ts'
import { DEFAULT_PEER_LIMITS, type PeerLimitOptions } from './defaults.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

interface Waiter {
  resolve(release: () => void): void
  reject(err: unknown): void
}

/** One remote peer's use of the daemon, by its public key (it outlives a connection). */
class PeerAccount {
  readonly publicKey: Buffer
  activeStreams = 0
  readonly waiting: Waiter[] = []
  /** Times of loadModel / downloadAsset calls in the last minute. */
  readonly loads: number[] = []
  /** [time, bytes] of downloads in the last hour. */
  readonly downloads: Array<[number, number]> = []
  refusals = 0

  constructor(publicKey: Buffer) {
    this.publicKey = publicKey
  }

  prune(now: number): void {
    while (this.loads.length > 0 && this.loads[0] <= now - MINUTE) this.loads.shift()
    while (this.downloads.length > 0 && this.downloads[0][0] <= now - HOUR) this.downloads.shift()
  }

  downloadedBytes(): number {
    let total = 0
    for (const [, bytes] of this.downloads) total += bytes
    return total
  }

  get idle(): boolean {
    return this.activeStreams === 0 && this.waiting.length === 0 && this.loads.length === 0 && this.downloads.length === 0
  }
}

/**
 * Per-peer fairness: what one remote peer may hold at once (infer streams generating and
 * waiting) and per time (loads per minute, bytes downloaded per hour). A peer over a limit gets
 * QUEUE_FULL or RATE_LIMITED; other peers never wait behind its excess. The operator (control
 * socket, no public key) is exempt.
 */
export class PeerLimits {
  readonly limits: PeerLimitOptions
  private readonly accounts = new Map<string, PeerAccount>()

  constructor(limits: Partial<PeerLimitOptions> = {}) {
    this.limits = { ...DEFAULT_PEER_LIMITS, ...limits }
  }

  /**
   * Waits for one of the peer's stream slots; resolves with its release. More than `maxQueued`
   * waiting is QUEUE_FULL at once.
   */
  enterStream(caller: CallerInfo, signal: AbortSignal): Promise<() => void> {
    const account = this.account(caller)
    if (!account) return Promise.resolve(noop)
    if (account.activeStreams < this.limits.maxStreams) {
      account.activeStreams++
      return Promise.resolve(this.releaser(account))
    }
    if (account.waiting.length >= this.limits.maxQueued) {
      account.refusals++
      return Promise.reject(
        new QvacError('QUEUE_FULL', `this peer already has ${account.activeStreams} streams running and ${account.waiting.length} waiting`, {
          details: { scope: 'peer', maxStreams: this.limits.maxStreams, maxQueued: this.limits.maxQueued }
        })
      )
    }
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason)
      const waiter: Waiter = {
        resolve: (release) => {
          signal.removeEventListener('abort', onabort)
          resolve(release)
        },
        reject
      }
      const onabort = () => {
        const i = account.waiting.indexOf(waiter)
        if (i !== -1) account.waiting.splice(i, 1)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onabort, { once: true })
      account.waiting.push(waiter)
    })
  }

  /** Counts a loadModel / downloadAsset call, or refuses it with RATE_LIMITED (before any work). */
  startLoad(caller: CallerInfo): void {
    const account = this.account(caller)
    if (!account) return
    const now = Date.now()
    account.prune(now)
    if (account.loads.length >= this.limits.loadsPerMinute) {
      account.refusals++
      throw new QvacError('RATE_LIMITED', `over ${this.limits.loadsPerMinute} loads per minute; try again later`, {
        details: { limit: 'peer-loads-per-minute', retryAfterMs: account.loads[0] + MINUTE - now }
      })
    }
    const used = account.downloadedBytes()
    if (used >= this.limits.downloadBytesPerHour) {
      account.refusals++
      throw new QvacError('RATE_LIMITED', `over ${this.limits.downloadBytesPerHour} bytes downloaded in the last hour; try again later`, {
        details: { limit: 'peer-download-bytes-per-hour', retryAfterMs: account.downloads[0][0] + HOUR - now }
      })
    }
    account.loads.push(now)
  }

  /** Adds what a load or download fetched to the peer's hourly total. */
  downloaded(caller: CallerInfo, bytes: number): void {
    const account = this.account(caller)
    if (account && bytes > 0) account.downloads.push([Date.now(), bytes])
  }

  /** A loadModel / downloadAsset handler counted against the caller's limits. */
  limitLoads<M extends MethodName>(handler: Handler<M>, bytesOf: (response: ResponseOf<M>) => number): Handler<M> {
    return async (body, ctx) => {
      this.startLoad(ctx.caller)
      const response = await handler(body, ctx)
      this.downloaded(ctx.caller, bytesOf(response))
      return response
    }
  }

  /** Every remote peer with something counted, for `status`. */
  usage(): PeerUsage[] {
    const now = Date.now()
    const usage: PeerUsage[] = []
    for (const [key, account] of this.accounts) {
      account.prune(now)
      if (account.idle) {
        this.accounts.delete(key)
        continue
      }
      usage.push({
        publicKey: account.publicKey,
        activeStreams: account.activeStreams,
        queuedStreams: account.waiting.length,
        loadsLastMinute: account.loads.length,
        bytesDownloadedLastHour: account.downloadedBytes(),
        refusals: account.refusals
      })
    }
    return usage
  }

  private account(caller: CallerInfo): PeerAccount | null {
    if (caller.publicKey === null) return null
    const key = b4a.toString(caller.publicKey, 'hex')
    let account = this.accounts.get(key)
    if (!account) {
      account = new PeerAccount(caller.publicKey)
      this.accounts.set(key, account)
    }
    return account
  }

  private releaser(account: PeerAccount): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = account.waiting.shift()
      if (next) next.resolve(this.releaser(account))
      else account.activeStreams--
    }
  }
}

function noop(): void {}
