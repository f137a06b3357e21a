import { EventEmitter } from 'node:events'
import type HyperDHT from 'hyperdht'
import type { KeyPair } from 'hypercore-crypto'
import b4a from 'b4a'
import { QvacError, isQvacError } from '../../shared/errors.ts'
import { formatKey } from '../../shared/keys.ts'
import type { LoadReport } from '../../shared/messages.ts'
import { clientConnection, connectToDaemon, lookupTopic } from '../connect-daemon.ts'
import { QvacClient } from '../qvac-client.ts'
import type { Profiler } from '../profiler/profiler.ts'

/** One daemon of the topic as the client sees it. */
export interface Member {
  /** z32, as keys are printed. */
  id: string
  key: Buffer
  client: QvacClient
  /** Its latest announcement; null until the first arrives. */
  load: LoadReport | null
  /** When it was last heard from (an announcement or a stream chunk), epoch ms. */
  lastHeard: number
  /** Streams this client sent it since its last announcement and still running (not in the announcement yet). */
  unannounced: Set<object>
  /** Streams of this client the last announcement counted that have ended since (it overstates by these). */
  released: number
  ready: boolean
}

export interface DaemonSetOptions {
  dht: HyperDHT
  topic: Buffer
  keyPair: KeyPair
  profiler: Profiler
  /** Connections kept at most; more daemons found are sampled (default 8). */
  maxDaemons?: number
  /** How often the topic is looked up again while the set has room (default 5000 ms; 1000 ms while none is connected, 30 s when full). */
  refreshMs?: number
  /** A daemon silent this long is dropped (default 4000 ms; daemons announce every second). */
  silenceTimeoutMs?: number
  openTimeoutMs?: number
  protocolVersion?: number
  /** Daemons to leave out (a delegating daemon: itself, and keys outside its allowlist). */
  accept?: (key: Buffer) => boolean
}

const DEFAULT_MAX = 8
const DEFAULT_REFRESH_MS = 5000
const EMPTY_REFRESH_MS = 1000
const FULL_REFRESH_MS = 30_000
const DEFAULT_SILENCE_MS = 4000
const LOOKUP_MS = 3000
// A daemon that could not be reached is not dialed again for this long.
const RETRY_AFTER_MS = 5000

/**
 * The daemons of one topic a client keeps connections to: found by repeated DHT lookups, at most
 * `maxDaemons` (a random sample when more announce), each with its latest load announcement. A
 * daemon whose connection drops or that stays silent past `silenceTimeoutMs` leaves the set.
 *
 * Events: `joined` (member), `left` (member, { noticedAt }), `load` (member).
 */
export class DaemonSet extends EventEmitter {
  readonly members = new Map<string, Member>()
  private readonly opts: DaemonSetOptions
  private readonly failedAt = new Map<string, number>()
  private readonly closing = new AbortController()
  private timer: NodeJS.Timeout | null = null
  private refreshing: Promise<void> | null = null
  /** Why the last daemon that could not be reached could not be. */
  private lastError: unknown = null

  constructor(opts: DaemonSetOptions) {
    super()
    this.opts = opts
  }

  /** The profiler every member's client records into. */
  get profiler(): Profiler {
    return this.opts.profiler
  }

  /** Starts looking; resolves once one daemon is connected, or CONNECT_FAILED after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    if (!this.timer) this.schedule(0)
    const deadline = Date.now() + timeoutMs
    while (this.connected().length === 0) {
      if (this.closing.signal.aborted) throw new QvacError('CLIENT_CLOSED', 'the client is closed')
      // Daemons that refused for good (another protocol version, an allowlist): say so rather than time out.
      const final = isQvacError(this.lastError, 'PROTOCOL_VERSION_MISMATCH') || isQvacError(this.lastError, 'CONNECT_REFUSED')
      if (final && this.members.size === 0) throw this.lastError
      if (Date.now() >= deadline) {
        const reason = this.lastError instanceof Error ? `: ${this.lastError.message}` : ''
        throw new QvacError('CONNECT_FAILED', `no daemon on the topic could be reached within ${timeoutMs} ms${reason}`, {
          details: { found: this.members.size },
          cause: this.lastError ?? undefined
        })
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t)
          this.off('joined', done)
          resolve()
        }
        const t = setTimeout(done, Math.min(100, Math.max(1, deadline - Date.now())))
        this.on('joined', done)
      })
    }
  }

  /** The members whose channel is open. */
  connected(): Member[] {
    return [...this.members.values()].filter((m) => m.ready)
  }

  /** Looks the topic up now (also done on a timer). */
  refresh(): Promise<void> {
    this.refreshing ??= this.lookup().finally(() => (this.refreshing = null))
    return this.refreshing
  }

  async close(): Promise<void> {
    this.closing.abort()
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    const members = [...this.members.values()]
    this.members.clear()
    await Promise.all(members.map((m) => m.client.close()))
  }

  private schedule(ms: number): void {
    if (this.closing.signal.aborted) return
    this.timer = setTimeout(() => {
      this.refresh().finally(() => this.schedule(this.nextRefreshMs()))
    }, ms)
    this.timer.unref()
  }

  /** Often while looking for a first daemon, rarely once full: a lookup is a DHT query. */
  private nextRefreshMs(): number {
    if (this.connected().length === 0) return EMPTY_REFRESH_MS
    if (this.members.size >= (this.opts.maxDaemons ?? DEFAULT_MAX)) return FULL_REFRESH_MS
    return this.opts.refreshMs ?? DEFAULT_REFRESH_MS
  }

  private async lookup(): Promise<void> {
    const found = await lookupTopic(this.opts.dht, this.opts.topic, Date.now() + LOOKUP_MS, this.closing.signal)
    const now = Date.now()
    const fresh = found.filter((key) => {
      if (this.opts.accept && !this.opts.accept(key)) return false
      const hex = b4a.toString(key, 'hex')
      return !this.members.has(hex) && now - (this.failedAt.get(hex) ?? 0) > RETRY_AFTER_MS
    })
    const room = (this.opts.maxDaemons ?? DEFAULT_MAX) - this.members.size
    for (const key of sample(fresh, room)) this.add(key)
  }

  private add(key: Buffer): void {
    const hex = b4a.toString(key, 'hex')
    const silenceMs = this.opts.silenceTimeoutMs ?? DEFAULT_SILENCE_MS
    const client = new QvacClient(
      async (signal) => {
        const conn = await connectToDaemon(this.opts.dht, {
          peer: key,
          keyPair: this.opts.keyPair,
          timeoutMs: LOOKUP_MS,
          openTimeoutMs: this.opts.openTimeoutMs,
          protocolVersion: this.opts.protocolVersion,
          signal
        })
        // Daemons announce every second: silence past this means a dead or cut-off daemon,
        // noticed well before the transport's own ~17 s (STACK.md).
        conn.stream.setTimeout(silenceMs)
        return clientConnection(conn)
      },
      async () => {},
      { profiler: this.opts.profiler }
    )
    const member: Member = { id: formatKey(key), key, client, load: null, lastHeard: Date.now(), unannounced: new Set(), released: 0, ready: false }
    this.members.set(hex, member)
    client.on('load', (report: LoadReport) => {
      if (member.load && report.seq <= member.load.seq && report.version === member.load.version) return
      member.load = report
      member.lastHeard = Date.now()
      member.unannounced.clear()
      member.released = 0
      this.emit('load', member)
    })
    client.on('disconnect', () => this.remove(hex, member))
    client.ready().then(
      () => {
        if (this.members.get(hex) !== member) return
        member.ready = true
        member.lastHeard = Date.now()
        this.emit('joined', member)
      },
      (err) => {
        this.lastError = err
        this.failedAt.set(hex, Date.now())
        this.remove(hex, member)
      }
    )
  }

  private remove(hex: string, member: Member): void {
    if (this.members.get(hex) !== member) return
    this.members.delete(hex)
    const wasReady = member.ready
    member.ready = false
    void member.client.close()
    if (wasReady) {
      this.failedAt.set(hex, Date.now())
      this.emit('left', member, { noticedAt: Date.now() })
      // Someone else may take its place.
      if (!this.closing.signal.aborted) void this.refresh()
    }
  }
}

/** Up to `n` of `items`, chosen uniformly at random. */
function sample<T>(items: T[], n: number): T[] {
  const pool = [...items]
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[pool[i], pool[j]] = [pool[j], pool[i]]
  }
  return pool.slice(0, Math.max(0, n))
}
