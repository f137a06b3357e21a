import b4a from 'b4a'
import { QvacError } from '../../shared/errors.ts'
import { QvacClient } from '../../client/qvac-client.ts'
import { clientConnection, type DaemonConnection } from '../../client/connect-daemon.ts'
import { formatKey } from '../../shared/keys.ts'

/** Opens a connection to a provider (the daemon's DHT and key pair, known once it is ready). */
export type Dial = (peer: Buffer, signal: AbortSignal) => Promise<DaemonConnection>

// A provider that dies without closing (killed, unplugged) is otherwise noticed only after
// ~17 s (STACK.md): ping every 2 s and drop the connection after 8 s of silence (shorter
// dropped live providers whose event loop a model load stalled on a loaded 2-core machine).
const KEEP_ALIVE_MS = 2000
const SILENCE_TIMEOUT_MS = 8000

/**
 * The daemon's connections to provider daemons it delegates to, one client per provider key,
 * made with the daemon's own key pair (so the provider's allowlist sees who asks).
 */
export class Providers {
  private readonly dial: Dial
  private readonly allow: Buffer[]
  private readonly clients = new Map<string, QvacClient>()

  constructor(opts: { dial: Dial; allow: Buffer[] }) {
    this.dial = opts.dial
    this.allow = opts.allow
  }

  /** A connected client for the provider; DELEGATION_FAILED if it cannot be reached. */
  async get(peer: Buffer): Promise<QvacClient> {
    if (this.allow.length > 0 && !this.allow.some((key) => b4a.equals(key, peer))) {
      throw new QvacError('DELEGATION_REFUSED', `provider ${formatKey(peer)} is not in this daemon's allowlist`)
    }
    const id = b4a.toString(peer, 'hex')
    let client = this.clients.get(id)
    if (!client) {
      client = new QvacClient(async (signal) => {
        const conn = await this.dial(peer, signal)
        conn.stream.setKeepAlive(KEEP_ALIVE_MS)
        conn.stream.setTimeout(SILENCE_TIMEOUT_MS)
        return clientConnection(conn)
      })
      this.clients.set(id, client)
    }
    try {
      await client.ready()
    } catch (err) {
      throw new QvacError('DELEGATION_FAILED', `provider ${formatKey(peer)} unreachable: ${(err as Error).message}`, {
        cause: err,
        details: { provider: formatKey(peer) }
      })
    }
    return client
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()]
    this.clients.clear()
    await Promise.all(clients.map((c) => c.close()))
  }
}
