import type Hyperswarm from 'hyperswarm'
import type { PeerDiscovery } from 'hyperswarm'
import type { Registry } from './registry.ts'

const PEER_DATA_WAIT_MS = 3000

/**
 * Keeps a daemon looking for its registry. Hyperswarm looks a topic up when it is joined and then
 * only every ~10 minutes, so a registry whose publisher started after the daemon stayed
 * unavailable until a restart. Here every lookup that finds no peer with the registry looks it up
 * again on the DHT first (and waits for the connections that lookup opens).
 */
export class RegistryFinder {
  readonly registry: Registry
  private readonly swarm: Hyperswarm
  private discovery: PeerDiscovery | null = null
  private refreshing: Promise<void> | null = null

  constructor(opts: { swarm: Hyperswarm; registry: Registry }) {
    this.swarm = opts.swarm
    this.registry = opts.registry
  }

  /** Joined both ways: the daemon finds the registry's writer and serves the registry to others. */
  ready(): void {
    this.discovery = this.swarm.join(this.registry.discoveryKey, { server: true, client: true })
    const found = this.registry.findingPeers()
    this.swarm.flush().then(found, found)
  }

  /**
   * With no peer that has the registry's entries: one fresh lookup, shared by the lookups asking
   * meanwhile, then (when nothing of it is here yet) a short wait for the peers it connected to.
   */
  async find(): Promise<void> {
    if (this.registry.peerHasData || !this.discovery) return
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = null))
    await this.refreshing
  }

  async close(): Promise<void> {
    if (this.discovery) await this.discovery.destroy().catch(() => {})
  }

  private async refresh(): Promise<void> {
    const found = this.registry.findingPeers()
    try {
      await (this.discovery as PeerDiscovery).refresh({ client: true, server: true })
      await this.swarm.flush()
      // A new connection replicates the registry a moment after it opens.
      if (this.registry.empty) await this.registry.waitForPeerData(PEER_DATA_WAIT_MS)
    } finally {
      found()
    }
  }
}
