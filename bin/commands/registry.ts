import { openPublisher } from '../../daemon/publish/open-publisher.ts'
import type { PublisherApi } from '../../daemon/publish/publisher-api.ts'
import { parseBootstrap } from '../../client/dht.ts'
import { formatKey, parseKey } from '../../shared/keys.ts'
import { formatBytes } from '../format/units.ts'
import { plainTable } from '../format/table.ts'

interface RegistryOptions {
  storage: string
  bootstrap?: string
}

// The store is opened for this command only, or reached through the publish seeding it.
async function withPublisher<T>(opts: RegistryOptions, fn: (publisher: PublisherApi) => Promise<T>): Promise<T> {
  const publisher = await openPublisher({ storage: opts.storage, bootstrap: opts.bootstrap ? parseBootstrap(opts.bootstrap) : undefined })
  try {
    return await fn(publisher)
  } finally {
    await publisher.close()
  }
}

/** `qvacd registry create`: this storage's registry (one per store); prints its key. */
export function runRegistryCreate(opts: RegistryOptions & { json?: boolean }): Promise<void> {
  return withPublisher(opts, async (publisher) => {
    const key = formatKey(await publisher.registryKey())
    process.stdout.write(opts.json ? JSON.stringify({ key }) + '\n' : `registry ${key}\n  daemons use it with: qvacd start --registry ${key}\n`)
  })
}

export function runRegistryAdd(
  name: string,
  source: string,
  opts: RegistryOptions & { sha256: string; size: number; engine?: string; quantization?: string; description?: string; json?: boolean }
): Promise<void> {
  return withPublisher(opts, async (publisher) => {
    const entry = await publisher.addToRegistry(name, {
      source,
      sha256: opts.sha256,
      size: opts.size,
      engine: opts.engine,
      quantization: opts.quantization,
      description: opts.description
    })
    process.stdout.write(opts.json ? JSON.stringify(entry) + '\n' : `added ${entry.name} → ${entry.source}\n`)
  })
}

/** Another storage's registry comes from its seeders on the swarm, or fails (SOURCE_UNAVAILABLE) after --timeout. */
export function runRegistryList(opts: RegistryOptions & { registry?: string; timeout: number; json?: boolean }): Promise<void> {
  return withPublisher(opts, async (publisher) => {
    const entries = await publisher.listRegistry(opts.registry ? parseKey(opts.registry, 'registry key') : undefined, opts.timeout)
    if (opts.json) {
      process.stdout.write(JSON.stringify(entries, null, 2) + '\n')
      return
    }
    const table = plainTable(['NAME', 'SIZE', 'ENGINE', 'QUANT', 'SHA-256', 'SOURCE'])
    for (const e of entries) table.push([e.name, formatBytes(e.size), e.engine ?? '', e.quantization ?? '', e.sha256.slice(0, 12), e.source])
    process.stdout.write(entries.length === 0 ? 'no entries\n' : table.toString().replace(/ +$/gm, '') + '\n')
  })
}
