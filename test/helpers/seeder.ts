import Corestore from 'corestore'
import Hyperswarm from 'hyperswarm'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Assertion } from 'brittle'
import type { Testnet } from 'hyperdht/testnet.js'
import type Hypercore from 'hypercore'
import { createDht } from '../../client/dht.ts'
import { publishFile, type PublishedFile } from '../../daemon/resolve/publish.ts'
import { DriveSeeder } from '../../daemon/resolve/seed.ts'

export interface Seeder {
  store: Corestore
  swarm: Hyperswarm
  storage: string
  /** Publishes a file into the store's drive and seeds the drive. */
  publish(name: string, data: Buffer): Promise<PublishedFile>
  /** Seeds a drive this store holds (after a restart, say). */
  seed(driveKey: Buffer): Promise<void>
  /** Announces a discovery key (a registry's) as a server. */
  serve(discoveryKey: Buffer): Promise<void>
  /** The key of a seeded drive's blobs core, where its file blocks live. */
  contentKey(driveKey: Buffer): Buffer
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

  const seeders: DriveSeeder[] = []
  const watched: Hypercore[] = []
  const watchers = new Set<() => void>()
  let uploadedBytes = 0

  // The blobs core's upload events count the file bytes served.
  async function watchUploads(contentKey: Buffer): Promise<void> {
    const blobs = store.get({ key: contentKey })
    watched.push(blobs)
    await blobs.ready()
    blobs.on('upload', (_index, bytes) => {
      uploadedBytes += bytes
      for (const check of watchers) check()
    })
  }

  let closing: Promise<void> | null = null
  const close = () => {
    closing ??= (async () => {
      for (const seeder of seeders) await seeder.close()
      for (const core of watched) await core.close()
      await swarm.destroy()
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
      await seeder.seed(published.key)
      return published
    },
    async seed(driveKey) {
      if (seeders.some((s) => s.key.equals(driveKey))) return
      const driveSeeder = new DriveSeeder({ store, swarm, key: driveKey })
      seeders.push(driveSeeder)
      await driveSeeder.ready()
      await watchUploads(driveSeeder.contentKey)
    },
    async serve(discoveryKey) {
      await swarm.join(discoveryKey, { server: true, client: false }).flushed()
    },
    contentKey(driveKey) {
      const driveSeeder = seeders.find((s) => s.key.equals(driveKey))
      if (!driveSeeder) throw new Error('not a drive this seeder seeds')
      return driveSeeder.contentKey
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
