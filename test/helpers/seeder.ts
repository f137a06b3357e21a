import Corestore from 'corestore'
import Hyperswarm from 'hyperswarm'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Assertion } from 'brittle'
import type { Testnet } from 'hyperdht/testnet.js'
import { createDht } from '../../shared/dht.ts'
import { publishFile, type PublishedFile } from '../../daemon/resolve/publish.ts'

export interface Seeder {
  store: Corestore
  swarm: Hyperswarm
  storage: string
  /** Publishes a file into the store's drive (seeded from then on). */
  publish(name: string, data: Buffer): Promise<PublishedFile>
  /** Announces a discovery key (a drive's, a registry's) as a server. */
  serve(discoveryKey: Buffer): Promise<void>
  /** Leaves the swarm and closes the store; the storage dir stays for a restart. */
  close(): Promise<void>
}

/**
 * A peer that seeds drives from its own corestore over a real Hyperswarm on the loopback testnet.
 * Several seeders on one storage dir are restarts of the same one (one at a time).
 */
export async function startSeeder(t: Assertion, testnet: Testnet, opts: { storage?: string } = {}): Promise<Seeder> {
  const storage = opts.storage ?? (await t.tmp())
  const store = new Corestore(path.join(storage, 'corestore'))
  await store.ready()
  const swarm = new Hyperswarm({ dht: createDht({ bootstrap: testnet.bootstrap }) })
  swarm.on('connection', (conn) => store.replicate(conn))

  let closing: Promise<void> | null = null
  const close = () => {
    closing ??= swarm.destroy().then(() => store.close())
    return closing
  }
  t.teardown(close)

  const seeder: Seeder = {
    store,
    swarm,
    storage,
    async publish(name, data) {
      const file = path.join(storage, `upload-${name.replaceAll('/', '_')}`)
      await fs.writeFile(file, data)
      const published = await publishFile({ store, file, name })
      await seeder.serve(published.discoveryKey)
      return published
    },
    async serve(discoveryKey) {
      await swarm.join(discoveryKey, { server: true, client: false }).flushed()
    },
    close
  }
  return seeder
}
