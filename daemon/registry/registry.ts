import Hyperbee from 'hyperbee'
import type Corestore from 'corestore'
import { QvacError } from '../../shared/errors.ts'
import { formatKey } from '../../shared/keys.ts'
import { assertRegistryName, parseSource } from '../resolve/source-uri.ts'
import { registryEntry, type RegistryEntryValue } from '../../shared/messages.ts'

export interface RegistryEntry extends RegistryEntryValue {
  name: string
}

/** The name of this store's own registry core: one writable registry per store. */
const OWN_REGISTRY = 'qvacd/registry'
const MAX_TEXT = 4096
// How often a wait for a peer's entries looks again: replication reports a peer's length without an event we can await.
const PEER_POLL_MS = 50

/**
 * A model registry: a single-writer Hyperbee mapping a name to where the model is and what it is.
 * Without `key` it is this store's own (writable) registry; with one, someone else's, read-only,
 * replicated over whatever swarm the caller joins to `discoveryKey`.
 */
export class Registry {
  private readonly bee: Hyperbee<string, RegistryEntryValue>

  constructor(opts: { store: Corestore; key?: Buffer }) {
    const core = opts.store.get(opts.key ? { key: opts.key } : { name: OWN_REGISTRY })
    this.bee = new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: registryEntry })
  }

  get key(): Buffer {
    return this.bee.key
  }

  get discoveryKey(): Buffer {
    return this.bee.discoveryKey
  }

  get writable(): boolean {
    return this.bee.writable
  }

  /** Nothing of it here yet: never written, or never reached a peer that has it. */
  get empty(): boolean {
    return this.bee.core.length === 0
  }

  ready(): Promise<void> {
    return this.bee.ready()
  }

  close(): Promise<void> {
    return this.bee.close()
  }

  /** A connected peer has entries of it (a peer that opened it but holds nothing does not count). */
  get peerHasData(): boolean {
    return this.bee.core.peers.some((peer) => ((peer as { remoteLength?: number }).remoteLength ?? 0) > 0)
  }

  /** Resolves true once a connected peer has entries, false after `ms` without one. */
  async waitForPeerData(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms
    while (!this.peerHasData) {
      if (Date.now() >= deadline) return false
      await new Promise((resolve) => setTimeout(resolve, PEER_POLL_MS))
    }
    return true
  }

  /** Marks a peer lookup in progress: reads wait for it to end (call the returned function) before answering. */
  findingPeers(): () => void {
    return this.bee.core.findingPeers()
  }

  /** Adds or replaces an entry, after checking every field. */
  async add(name: string, value: RegistryEntryValue): Promise<RegistryEntry> {
    if (!this.writable) {
      throw new QvacError('INVALID_ARGUMENT', `registry ${formatKey(this.key)} is read-only here: only the store that created it can add entries`)
    }
    assertRegistryName(name)
    const stored = validValue(value)
    await this.bee.put(name, stored)
    return { name, ...stored }
  }

  async get(name: string): Promise<RegistryEntry | null> {
    assertRegistryName(name)
    await this.update()
    const node = await this.bee.get(name)
    return node ? { name: node.key, ...node.value } : null
  }

  /** Every entry, sorted by name. */
  async list(): Promise<RegistryEntry[]> {
    await this.update()
    const entries: RegistryEntry[] = []
    for await (const node of this.bee.createReadStream()) entries.push({ name: node.key, ...node.value })
    return entries
  }

  // Reads run on a snapshot, which never asks peers: bring the registry up to date first. Waiting
  // for the peers' answer only when one has entries (outside a peer lookup, update() does not wait).
  private async update(): Promise<void> {
    if (!this.writable) await this.bee.update({ wait: this.peerHasData })
  }
}

/** Opens (creating on first use) the store's own registry and returns its key. */
export async function createRegistry(store: Corestore): Promise<Buffer> {
  const registry = new Registry({ store })
  await registry.ready()
  const key = registry.key
  await registry.close()
  return key
}

function validValue(value: RegistryEntryValue): RegistryEntryValue {
  const source = parseSource(value.source)
  if (source.type !== 'hyperdrive' && source.type !== 'http') {
    throw new QvacError('INVALID_ARGUMENT', `a registry entry's source must be a hyperdrive:// or http(s):// URI, got ${source.type}`)
  }
  if (typeof value.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(value.sha256)) {
    throw new QvacError('INVALID_ARGUMENT', 'sha256 must be 64 hex characters')
  }
  if (!Number.isSafeInteger(value.size) || value.size < 0) {
    throw new QvacError('INVALID_ARGUMENT', `size must be a whole number of bytes, got ${value.size}`)
  }
  const entry: RegistryEntryValue = { source: source.id, sha256: value.sha256.toLowerCase(), size: value.size }
  for (const field of ['engine', 'quantization', 'description'] as const) {
    const text = value[field]
    if (text === undefined) continue
    if (typeof text !== 'string' || text.length > MAX_TEXT) {
      throw new QvacError('INVALID_ARGUMENT', `${field} must be a string of at most ${MAX_TEXT} characters`)
    }
    entry[field] = text
  }
  return entry
}
