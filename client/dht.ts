import HyperDHT, { type BootstrapNode } from 'hyperdht'
import type { KeyPair } from 'hypercore-crypto'
import { QvacError } from '../shared/errors.ts'

/** Parses `host:port[,host:port…]` as given on a command line, or a list of nodes. */
export function parseBootstrap(list: string | Array<string | BootstrapNode>): BootstrapNode[] {
  const items = Array.isArray(list) ? list : list.split(',')
  return items.map((entry) => {
    const item = typeof entry === 'string' ? entry.trim() : `${entry.host}:${entry.port}`
    const at = item.lastIndexOf(':')
    const host = item.slice(0, at)
    const port = Number(item.slice(at + 1))
    if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new QvacError('INVALID_ARGUMENT', `invalid bootstrap address "${item}": expected host:port`)
    }
    return { host, port }
  })
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1'
}

/**
 * A DHT node. With only loopback bootstrap nodes it binds and advertises 127.0.0.1: by default
 * HyperDHT advertises the LAN address, which is unreachable on isolated hosts and costs ~13 s
 * timeouts. Without bootstrap nodes it joins the public HyperDHT, as a real host would.
 */
export function createDht(opts: { bootstrap?: BootstrapNode[]; keyPair?: KeyPair } = {}): HyperDHT {
  const { bootstrap, keyPair } = opts
  const loopbackOnly = bootstrap !== undefined && bootstrap.length > 0 && bootstrap.every((b) => isLoopback(b.host))
  return new HyperDHT({
    bootstrap,
    keyPair,
    host: loopbackOnly ? '127.0.0.1' : undefined
  })
}
