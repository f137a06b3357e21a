import path from 'node:path'
import Corestore from 'corestore'
import Hyperswarm from 'hyperswarm'
import type { BootstrapNode } from 'hyperdht'
import b4a from 'b4a'
import { QvacError } from '../../shared/errors.ts'
import { createDht } from '../../client/dht.ts'
import { formatKey } from '../../shared/keys.ts'
import { publishFile, type PublishedFile } from '../resolve/publish.ts'
import { DriveSeeder } from '../resolve/seed.ts'
import { Registry, type RegistryEntry } from '../registry/registry.ts'
import type { RegistryEntryValue } from '../../shared/messages.ts'

/**
 * The publishing side of qvacd: a Corestore of its own (`<storage>/publisher`, next to the
 * daemon's) holding one drive with every published file and this store's registry. It seeds the
 * drive and the registry on a swarm while it is open — `qvacd publish` keeps it open until
 * Ctrl-C; the demo for its whole run.
 */
export class Publisher {
  readonly store: Corestore
  private readonly bootstrap: BootstrapNode[] | undefined
  private swarm: Hyperswarm | null = null
  private readonly seeders: Array<{ close(): Promise<void> }> = []
  private registry: Registry | null = null

  constructor(opts: { storage: string; bootstrap?: BootstrapNode[] }) {
    this.store = new Corestore(path.join(path.resolve(opts.storage), 'publisher'))
    this.bootstrap = opts.bootstrap
  }

  async ready(): Promise<void> {
    try {
      await this.store.ready()
    } catch (err) {
      throw new QvacError('INVALID_ARGUMENT', `the publisher store is in use (another qvacd publish or registry command?): ${(err as Error).message}`, {
        cause: err
      })
    }
  }

  /** This store's own registry (created on first use). */
  async ownRegistry(): Promise<Registry> {
    if (!this.registry) {
      this.registry = new Registry({ store: this.store })
      await this.registry.ready()
    }
    return this.registry
  }

  /** Puts a file into the publish drive, and into this store's registry under `registryName`. */
  async publish(
    file: string,
    opts: { name?: string; registryKey?: Buffer; registryName?: string; about?: Pick<RegistryEntryValue, 'engine' | 'quantization' | 'description'> } = {}
  ): Promise<PublishedFile> {
    let registry
    if (opts.registryKey || opts.registryName) {
      const own = await this.ownRegistry()
      if (opts.registryKey && !b4a.equals(opts.registryKey, own.key)) {
        throw new QvacError('INVALID_ARGUMENT', `registry ${formatKey(opts.registryKey)} is not this store's (${formatKey(own.key)}): only its writer can add to it`)
      }
      registry = { registry: own, name: opts.registryName ?? path.basename(opts.name ?? file), ...opts.about }
    }
    return publishFile({ store: this.store, file, name: opts.name, registry })
  }

  async addToRegistry(name: string, value: RegistryEntryValue): Promise<RegistryEntry> {
    return (await this.ownRegistry()).add(name, value)
  }

  /** Lists a registry: this store's own, or another one found over the swarm. */
  async listRegistry(key?: Buffer): Promise<RegistryEntry[]> {
    const own = await this.ownRegistry()
    if (!key || b4a.equals(key, own.key)) return own.list()
    const other = new Registry({ store: this.store, key })
    await other.ready()
    try {
      const swarm = this.joinSwarm()
      swarm.join(other.discoveryKey, { server: false, client: true })
      const found = other.findingPeers()
      await swarm.flush().finally(found)
      return await other.list()
    } finally {
      await other.close()
    }
  }

  /** Announces the drive of `published` and this store's registry, so daemons can fetch them. */
  async seed(published: Pick<PublishedFile, 'key'>): Promise<void> {
    const swarm = this.joinSwarm()
    const seeder = new DriveSeeder({ store: this.store, swarm, key: published.key })
    await seeder.ready()
    this.seeders.push(seeder)
    const registry = await this.ownRegistry()
    if (!registry.empty) await swarm.join(registry.discoveryKey, { server: true, client: false }).flushed()
  }

  async close(): Promise<void> {
    for (const seeder of this.seeders.splice(0)) await seeder.close()
    if (this.swarm) await this.swarm.destroy()
    if (this.registry) await this.registry.close()
    await this.store.close()
  }

  private joinSwarm(): Hyperswarm {
    if (!this.swarm) {
      this.swarm = new Hyperswarm({ dht: createDht({ bootstrap: this.bootstrap }) })
      this.swarm.on('connection', (conn) => {
        conn.on('error', () => {})
        this.store.replicate(conn)
      })
    }
    return this.swarm
  }
}
