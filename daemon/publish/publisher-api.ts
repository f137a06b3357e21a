import type { PublishFileRequest, PublishFileResponse, RegistryEntryValue } from '../../shared/messages.ts'
import type { RegistryEntry } from '../registry/registry.ts'

/**
 * What the publish and registry commands need of a publisher store: the store itself when this
 * process can open it, or the seeding `qvacd publish` that holds it (over its socket).
 */
export interface PublisherApi {
  /** 'local': this process holds the store; 'seeder': a running qvacd publish does the work. */
  readonly via: 'local' | 'seeder'
  publish(request: PublishFileRequest): Promise<PublishFileResponse>
  registryKey(): Promise<Buffer>
  addToRegistry(name: string, value: RegistryEntryValue): Promise<RegistryEntry>
  listRegistry(key: Buffer | undefined, timeoutMs: number): Promise<RegistryEntry[]>
  close(): Promise<void>
}
