import Corestore from 'corestore'
import Hyperswarm from 'hyperswarm'
import crypto from 'node:crypto'
import path from 'node:path'
import type { Assertion } from 'brittle'
import type { Testnet } from 'hyperdht/testnet.js'
import { createDht } from '../../client/dht.ts'
import { ModelResolver, type ModelResolverOptions } from '../../daemon/resolve/resolver.ts'

export interface ResolverPeer {
  resolver: ModelResolver
  store: Corestore
  swarm: Hyperswarm
  storage: string
  close(): Promise<void>
}

/**
 * A ModelResolver as the daemon runs it: its own corestore in `storage`, replicated on every
 * connection of its swarm on the loopback testnet.
 */
export async function startResolver(
  t: Assertion,
  testnet: Testnet,
  opts: Partial<Omit<ModelResolverOptions, 'store' | 'swarm'>> = {}
): Promise<ResolverPeer> {
  const storage = opts.storage ?? (await t.tmp())
  const store = new Corestore(path.join(storage, 'corestore'))
  await store.ready()
  const swarm = new Hyperswarm({ dht: createDht({ bootstrap: testnet.bootstrap }) })
  swarm.on('connection', (conn) => store.replicate(conn))
  const resolver = new ModelResolver({ ...opts, storage, store, swarm })

  let closing: Promise<void> | null = null
  const close = () => {
    closing ??= resolver
      .close()
      .then(() => swarm.destroy())
      .then(() => store.close())
    return closing
  }
  t.teardown(close)
  await resolver.ready()
  return { resolver, store, swarm, storage, close }
}

/**
 * Resolves once `bytes` of a core's blocks have been downloaded and verified into `store` (a
 * resolve is then provably half-way, whatever the timing).
 */
export async function downloaded(store: Corestore, key: Buffer, bytes: number): Promise<void> {
  const core = store.get({ key })
  await core.ready()
  let total = 0
  await new Promise<void>((resolve) => {
    core.on('download', (_index, byteLength) => {
      total += byteLength
      if (total >= bytes) resolve()
    })
  })
  await core.close()
}

export function sha256(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex')
}
