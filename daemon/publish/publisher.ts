import path from 'node:path'
import Corestore from 'corestore'
import Hyperswarm from 'hyperswarm'
import type { BootstrapNode } from 'hyperdht'
import b4a from 'b4a'
import ReadyResource from 'ready-resource'
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
 * Ctrl-C; the demo for its whole run. `ready()`/`close()` are idempotent (ready-resource).
 */
export class Publisher extends ReadyResource {
  readonly store: Corestore
  private readonly bootstrap: BootstrapNode[] | undefined
  private swarm: Hyperswarm | null = null
  private readonly seeders: Array<{ close(): Promise<void> }> = []
  private registry: Registry | null = null
  private registryAnnounced = false
  private seeding = false
  private readonly dir: string

  constructor(opts: { storage: string; bootstrap?: BootstrapNode[] }) {
    super()
    this.dir = path.join(path.resolve(opts.storage), 'publisher')
    this.store = new Corestore(this.dir)
    this.bootstrap = opts.bootstrap
  }

  protected async _open(): Promise<void> {
    try {
      await this.store.ready()
    } catch (err) {
      if (!/lock/i.test((err as Error).message)) throw err
      throw new QvacError('STORE_LOCKED', `the publisher store ${this.dir} is held by another qvacd process`, { cause: err, details: { store: this.dir } })
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
    const published = await publishFile({ store: this.store, file, name: opts.name, registry })
    if (registry) await this.announceRegistry()
    return published
  }

  async addToRegistry(name: string, value: RegistryEntryValue): Promise<RegistryEntry> {
    const entry = await (await this.ownRegistry()).add(name, value)
    await this.announceRegistry()
    return entry
  }

  /**
   * Lists a registry: this store's own, or another one from a peer found over the swarm within
   * `timeoutMs` — none found is SOURCE_UNAVAILABLE, never an empty list.
   */
  async listRegistry(key?: Buffer, timeoutMs = 15_000): Promise<RegistryEntry[]> {
    const own = await this.ownRegistry()
    if (!key || b4a.equals(key, own.key)) return own.list()
    const other = new Registry({ store: this.store, key })
    await other.ready()
    try {
      const swarm = this.joinSwarm()
      const discovery = swarm.join(other.discoveryKey, { server: false, client: true })
      const found = other.findingPeers()
      try {
        if (!(await other.waitForPeerData(timeoutMs))) {
          throw new QvacError('SOURCE_UNAVAILABLE', `registry ${formatKey(key)}: no peer that has it answered within ${timeoutMs} ms (is its qvacd publish seeding, on the same DHT?)`, {
            details: { registry: formatKey(key), timeoutMs }
          })
        }
      } finally {
        found()
      }
      const entries = await other.list()
      await discovery.destroy().catch(() => {})
      return entries
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
    this.seeding = true
    await this.announceRegistry()
  }

  /** While seeding, the registry is announced too, once it has an entry (a later add announces it then). */
  private async announceRegistry(): Promise<void> {
    if (!this.seeding || this.registryAnnounced) return
    const registry = await this.ownRegistry()
    if (registry.empty) return
    this.registryAnnounced = true
    await this.joinSwarm().join(registry.discoveryKey, { server: true, client: false }).flushed()
  }

  protected async _close(): Promise<void> {
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
