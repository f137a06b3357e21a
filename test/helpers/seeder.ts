import Corestore from 'corestore'
import Hyperswarm from 'hyperswarm'
import Hyperdrive from 'hyperdrive'
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
  /** Publishes a file into the store's drive and seeds the drive. */
  publish(name: string, data: Buffer): Promise<PublishedFile>
  /** Announces a discovery key (a drive's, a registry's) as a server. */
  serve(discoveryKey: Buffer): Promise<void>
  /** Resolves once this seeder has uploaded at least `bytes` of file blocks. */
  uploaded(bytes: number): Promise<void>
  /** Bytes of file blocks uploaded so far. */
  readonly uploadedBytes: number
  /** Leaves the swarm and closes the store; the storage dir stays for a restart. */
  close(): Promise<void>
}

/**
 * A peer that seeds drives from its own corestore over a real Hyperswarm on the loopback testnet.
 * Seeders started on one storage dir are restarts of the same peer (one at a time).
 */
export async function startSeeder(t: Assertion, testnet: Testnet, opts: { storage?: string } = {}): Promise<Seeder> {
  const storage = opts.storage ?? (await t.tmp())
  const store = new Corestore(path.join(storage, 'corestore'))
  await store.ready()
  const swarm = new Hyperswarm({ dht: createDht({ bootstrap: testnet.bootstrap }) })
  swarm.on('connection', (conn) => store.replicate(conn))

  const drives: Hyperdrive[] = []
  const watchers = new Set<() => void>()
  let uploadedBytes = 0

  // Opened by key, as any peer would: the blobs core's upload events count what was served.
  async function watchUploads(key: Buffer): Promise<void> {
    if (drives.some((drive) => drive.key.equals(key))) return
    const drive = new Hyperdrive(store.session(), key)
    drives.push(drive)
    const blobs = await drive.getBlobs()
    blobs.core.on('upload', (_index, bytes) => {
      uploadedBytes += bytes
      for (const check of watchers) check()
    })
  }

  let closing: Promise<void> | null = null
  const close = () => {
    closing ??= (async () => {
      await swarm.destroy()
      for (const drive of drives) await drive.close()
      await store.close()
    })()
    return closing
  }
  t.teardown(close)

  const seeder: Seeder = {
    store,
    swarm,
    storage,
    get uploadedBytes() {
      return uploadedBytes
    },
    async publish(name, data) {
      const file = path.join(storage, `upload-${name.replaceAll('/', '_')}`)
      await fs.writeFile(file, data)
      const published = await publishFile({ store, file, name })
      await watchUploads(published.key)
      await seeder.serve(published.discoveryKey)
      return published
    },
    async serve(discoveryKey) {
      await swarm.join(discoveryKey, { server: true, client: false }).flushed()
    },
    uploaded(bytes) {
      return new Promise<void>((resolve) => {
        const check = () => {
          if (uploadedBytes < bytes) return
          watchers.delete(check)
          resolve()
        }
        watchers.add(check)
        check()
      })
    },
    close
  }
  return seeder
}
