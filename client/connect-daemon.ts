import type HyperDHT from 'hyperdht'
import type { SecretStream } from 'hyperdht'
import type { KeyPair } from 'hypercore-crypto'
import type ProtomuxRPC from 'protomux-rpc'
import b4a from 'b4a'
import { QvacError, isQvacError } from '../shared/errors.ts'
import { openRpcChannel } from '../shared/rpc-channel.ts'
import { PeerRole, type Handshake } from '../shared/messages.ts'
import { formatKey } from '../shared/keys.ts'
import type { Connection } from './qvac-client.ts'

/** An open RPC connection to one daemon. */
export interface DaemonConnection {
  stream: SecretStream
  rpc: ProtomuxRPC
  remotePublicKey: Buffer
  remote: Handshake
}

/** A daemon connection as the RPC client uses it: the channel dies with the stream, closing ends the stream. */
export function clientConnection(conn: DaemonConnection): Connection {
  conn.stream.on('close', () => conn.rpc.destroy())
  return { rpc: conn.rpc, remotePublicKey: conn.remotePublicKey, destroy: () => conn.stream.end() }
}

export interface ConnectOptions {
  /** Find daemons announcing this topic; the first whose channel opens wins. */
  topic?: Buffer
  /** Connect to exactly this daemon. */
  peer?: Buffer
  keyPair: KeyPair
  /** Give up after this long, over all attempts. */
  timeoutMs: number
  /** A channel that has not opened by then counts as a failed attempt (see STACK.md). */
  openTimeoutMs?: number
  protocolVersion?: number
  /** Gives up at once (CLIENT_CLOSED) when aborted: the caller is closing. */
  signal?: AbortSignal
}

const DEFAULT_OPEN_TIMEOUT_MS = 5000
const RETRY_DELAYS_MS = [100, 250, 500, 1000]

/** How often both ends of a qvacd connection send a keep-alive (an empty encrypted message). */
export const KEEP_ALIVE_MS = 1000
/** A connection that received nothing for this long is destroyed: the other end is gone. */
export const DEFAULT_IDLE_TIMEOUT_MS = 4000

/**
 * Keep-alives every second and an idle timeout on a swarm connection, so a peer that vanished
 * (SIGKILL, network gone) is noticed in seconds; HyperDHT's defaults (5 s keep-alive, no timeout)
 * left it to TCP-like retries, 13–18 s measured.
 */
export function keepAlive(stream: SecretStream, idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS): void {
  stream.setKeepAlive(KEEP_ALIVE_MS)
  stream.setTimeout(idleTimeoutMs)
}

/**
 * Connects to a daemon over HyperDHT, by topic (lookup, then race the candidates) or by key.
 * Rounds are retried until `timeoutMs`, since a daemon that just (re)started may not be
 * announced yet; a protocol version mismatch is final and is thrown as is.
 */
export async function connectToDaemon(dht: HyperDHT, opts: ConnectOptions): Promise<DaemonConnection> {
  if (!opts.topic && !opts.peer) throw new QvacError('INVALID_ARGUMENT', 'connect needs a topic or a peer key')
  // A NaN or infinite deadline is never reached: the loop would retry forever.
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs < 0) {
    throw new QvacError('INVALID_ARGUMENT', `connect timeout must be a finite number of ms, got ${opts.timeoutMs}`)
  }
  const deadline = Date.now() + opts.timeoutMs
  let lastError: unknown = null
  let peersFound = 0

  for (let round = 0; ; round++) {
    throwIfClosed(opts.signal)
    const candidates = opts.peer ? [opts.peer] : await lookupTopic(dht, opts.topic as Buffer, deadline, opts.signal)
    peersFound = Math.max(peersFound, candidates.length)
    if (candidates.length > 0) {
      try {
        return await firstToOpen(
          candidates.map((key) => attempt(dht, key, opts, Math.min(opts.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS, remaining(deadline))))
        )
      } catch (err) {
        if (isQvacError(err, 'PROTOCOL_VERSION_MISMATCH') || isQvacError(err, 'CONNECT_REFUSED')) throw err
        lastError = err
      }
    }
    throwIfClosed(opts.signal)
    const delay = RETRY_DELAYS_MS[Math.min(round, RETRY_DELAYS_MS.length - 1)]
    if (Date.now() + delay >= deadline) break
    await sleep(delay, opts.signal)
  }

  const target = opts.peer ? `daemon ${formatKey(opts.peer)}` : 'any daemon on the topic'
  const reason = lastError instanceof Error ? `: ${lastError.message}` : peersFound === 0 ? ': no daemon announced the topic' : ''
  throw new QvacError('CONNECT_FAILED', `could not connect to ${target} within ${opts.timeoutMs} ms${reason}`, {
    details: { peersFound, lastError: lastError instanceof Error ? lastError.message : null },
    cause: lastError ?? undefined
  })
}

/** The keys of the peers announcing a topic, as far as a lookup finds them before `deadline`. */
export async function lookupTopic(dht: HyperDHT, topic: Buffer, deadline: number, signal?: AbortSignal): Promise<Buffer[]> {
  const found = new Map<string, Buffer>()
  const query = dht.lookup(topic)
  const stop = () => query.destroy()
  const timer = setTimeout(stop, remaining(deadline))
  signal?.addEventListener('abort', stop, { once: true })
  try {
    for await (const reply of query) {
      for (const peer of reply.peers) found.set(b4a.toString(peer.publicKey, 'hex'), peer.publicKey)
    }
  } catch {
    // A lookup cut short by the deadline or a destroyed DHT still returns what it found.
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', stop)
  }
  return [...found.values()]
}

async function attempt(dht: HyperDHT, key: Buffer, opts: ConnectOptions, openTimeoutMs: number): Promise<DaemonConnection> {
  const stream = dht.connect(key, { keyPair: opts.keyPair })
  const stop = () => stream.destroy()
  opts.signal?.addEventListener('abort', stop, { once: true })
  let streamError: (Error & { code?: string }) | null = null
  stream.on('error', (err: Error) => {
    streamError = err
  })
  const { rpc, opened } = openRpcChannel(stream, {
    role: PeerRole.CLIENT,
    protocolVersion: opts.protocolVersion,
    openTimeoutMs
  })
  try {
    const remote = await opened
    if (remote.refused) {
      throw new QvacError('CONNECT_REFUSED', `daemon ${formatKey(key)} refused this client: its key is not in the daemon's allowlist`, {
        details: { clientKey: formatKey(opts.keyPair.publicKey) }
      })
    }
    keepAlive(stream)
    return { stream, rpc, remotePublicKey: key, remote }
  } catch (err) {
    stream.destroy()
    throwIfClosed(opts.signal)
    if (isQvacError(err, 'PROTOCOL_VERSION_MISMATCH') || isQvacError(err, 'CONNECT_REFUSED') || !streamError) throw err
    const { code, message } = streamError as Error & { code?: string }
    throw new QvacError('CONNECT_FAILED', `${formatKey(key)}: ${code ?? message}`, { cause: streamError })
  } finally {
    opts.signal?.removeEventListener('abort', stop)
  }
}

/** The first attempt to open wins; later winners are closed; all failing rethrows the most telling error. */
function firstToOpen(attempts: Promise<DaemonConnection>[]): Promise<DaemonConnection> {
  return new Promise((resolve, reject) => {
    let winner: DaemonConnection | null = null
    let failed = 0
    let worst: unknown = null
    for (const a of attempts) {
      a.then(
        (conn) => {
          if (winner) conn.stream.destroy()
          else resolve((winner = conn))
        },
        (err) => {
          if (worst === null || isQvacError(err, 'PROTOCOL_VERSION_MISMATCH') || isQvacError(err, 'CONNECT_REFUSED')) worst = err
          if (++failed === attempts.length) reject(worst)
        }
      )
    }
  })
}

function throwIfClosed(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new QvacError('CLIENT_CLOSED', 'closed while connecting')
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

function remaining(deadline: number): number {
  return Math.max(1, deadline - Date.now())
}
