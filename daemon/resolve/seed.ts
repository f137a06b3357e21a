import Hyperdrive from 'hyperdrive'
import type Corestore from 'corestore'
import type Hyperswarm from 'hyperswarm'
import type { PeerDiscovery } from 'hyperswarm'
import type Hypercore from 'hypercore'

/**
 * Seeds a drive from a store: holds sessions on the drive's two cores and announces its discovery
 * key as a server. Holding them matters: a core the store opened only because a peer asked for it
 * has no session, and the store's idle-core collection closed such a blobs core mid-transfer (seen:
 * a 300 MB fetch lost its only seeder after ~6 s and never got it back on that connection).
 * Plain core sessions, not a Hyperdrive: a drive's db session is exclusive, and holding one would
 * block every other drive session of the store (publishing, resolving) until the seeder closed.
 * The swarm's connections must replicate the store (`store.replicate(conn)`), as the daemon's do.
 */
export class DriveSeeder {
  readonly key: Buffer
  private readonly store: Corestore
  private readonly swarm: Hyperswarm
  private cores: Hypercore[] = []
  private discovery: PeerDiscovery | null = null
  private contentKeyValue: Buffer | null = null
  private discoveryKeyValue: Buffer | null = null

  constructor(opts: { store: Corestore; swarm: Hyperswarm; key: Buffer }) {
    this.key = opts.key
    this.store = opts.store
    this.swarm = opts.swarm
  }

  get discoveryKey(): Buffer {
    return this.discoveryKeyValue as Buffer
  }

  /** The blobs core's key: where the file bytes are. */
  get contentKey(): Buffer {
    return this.contentKeyValue as Buffer
  }

  /** Opens the drive's cores (the store must hold the drive: publish first) and announces it. */
  async ready(): Promise<void> {
    const drive = new Hyperdrive(this.store.session(), this.key)
    try {
      await drive.ready()
      this.contentKeyValue = (await drive.getBlobs()).core.key
      this.discoveryKeyValue = drive.discoveryKey
    } finally {
      await drive.close()
    }
    this.cores = [this.store.get({ key: this.key }), this.store.get({ key: this.contentKeyValue as Buffer })]
    await Promise.all(this.cores.map((core) => core.ready()))
    this.discovery = this.swarm.join(this.discoveryKey, { server: true, client: false })
    await this.discovery.flushed()
  }

  async close(): Promise<void> {
    if (this.discovery) await this.discovery.destroy().catch(() => {})
    for (const core of this.cores) await core.close()
  }
}
