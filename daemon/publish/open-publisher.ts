import type { BootstrapNode } from 'hyperdht'
import { isQvacError } from '../../shared/errors.ts'
import type { PublishFileRequest, RegistryEntryValue } from '../../shared/messages.ts'
import { Publisher } from './publisher.ts'
import type { PublisherApi } from './publisher-api.ts'
import { PublisherRemote } from './publisher-remote.ts'
import { publishRequest } from './publish-request.ts'
import { publisherSocketPath } from './publisher-service.ts'

const LOCKED_RETRY_MS = 100

/**
 * The publisher store of a storage dir, however it is held: opened here when it is free; through
 * the seeding `qvacd publish` when that one holds it; and when another short command holds it
 * (a registry add), tried again until `waitMs` passes — then STORE_LOCKED.
 */
export async function openPublisher(opts: { storage: string; bootstrap?: BootstrapNode[]; waitMs?: number }): Promise<PublisherApi> {
  const deadline = Date.now() + (opts.waitMs ?? 5000)
  while (true) {
    const publisher = new Publisher({ storage: opts.storage, bootstrap: opts.bootstrap })
    try {
      await publisher.ready()
      return new LocalPublisher(publisher)
    } catch (err) {
      await publisher.close().catch(() => {})
      if (!isQvacError(err, 'STORE_LOCKED')) throw err
      const seeder = await PublisherRemote.connect(publisherSocketPath(opts.storage))
      if (seeder) return seeder
      if (Date.now() >= deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, LOCKED_RETRY_MS))
    }
  }
}

/** This process holds the store. */
export class LocalPublisher implements PublisherApi {
  readonly via = 'local'
  readonly publisher: Publisher

  constructor(publisher: Publisher) {
    this.publisher = publisher
  }

  async publish(request: PublishFileRequest) {
    const published = await this.publisher.publish(request.file, publishRequest(request))
    return { uri: published.uri, key: published.key, size: published.size, sha256: published.sha256, written: published.written, entry: published.entry }
  }

  async registryKey(): Promise<Buffer> {
    return (await this.publisher.ownRegistry()).key
  }

  addToRegistry(name: string, value: RegistryEntryValue) {
    return this.publisher.addToRegistry(name, value)
  }

  listRegistry(key: Buffer | undefined, timeoutMs: number) {
    return this.publisher.listRegistry(key, timeoutMs)
  }

  close(): Promise<void> {
    return this.publisher.close()
  }
}
