import path from 'node:path'
import b4a from 'b4a'
import { openPublisher, LocalPublisher } from '../../daemon/publish/open-publisher.ts'
import { PublisherService } from '../../daemon/publish/publisher-service.ts'
import { parseBootstrap } from '../../client/dht.ts'
import { QvacError } from '../../shared/errors.ts'
import { formatKey, parseKey } from '../../shared/keys.ts'
import { formatBytes } from '../format/units.ts'

/**
 * `qvacd publish FILE`: into this storage's publish drive (and registry), then seeded by this
 * command until Ctrl-C — the daemon does not seed what `publish` wrote (README). While it seeds,
 * it serves the other publish and registry commands of this storage over its socket; a publish
 * then hands its file to it and exits (the one drive it seeds holds every published file).
 */
export async function runPublish(
  file: string,
  opts: {
    storage: string
    bootstrap?: string
    name?: string
    registry?: string
    engine?: string
    quantization?: string
    description?: string
    seed: boolean
    json?: boolean
  }
): Promise<void> {
  const api = await openPublisher({ storage: opts.storage, bootstrap: opts.bootstrap ? parseBootstrap(opts.bootstrap) : undefined })
  let service: PublisherService | null = null
  try {
    const absolute = path.resolve(file)
    let registryName: string | undefined
    if (opts.registry) {
      const key = parseKey(opts.registry, 'registry key')
      const own = await api.registryKey()
      if (!b4a.equals(key, own)) {
        throw new QvacError('INVALID_ARGUMENT', `registry ${formatKey(key)} is not this storage's (${formatKey(own)}): only its writer can add to it`)
      }
      registryName = opts.name ?? path.basename(absolute)
    }
    const published = await api.publish({
      file: absolute,
      name: opts.name,
      registryName,
      engine: opts.engine,
      quantization: opts.quantization,
      description: opts.description
    })
    const seededBy = api.via === 'seeder' ? 'the qvacd publish already seeding this storage' : opts.seed ? 'this command, until Ctrl-C' : 'nobody (--no-seed)'
    const info = {
      uri: published.uri,
      size: published.size,
      sha256: published.sha256,
      written: published.written,
      registry: published.entry ? { name: published.entry.name, key: opts.registry } : null,
      seededBy: api.via === 'seeder' ? 'seeder' : opts.seed ? 'this' : null
    }
    process.stdout.write(
      opts.json
        ? JSON.stringify(info) + '\n'
        : [
            `published ${published.uri}`,
            `  size     ${formatBytes(published.size)} (${published.size} bytes)`,
            `  sha256   ${published.sha256}`,
            ...(published.entry ? [`  registry ${published.entry.name} in ${opts.registry}`] : []),
            `  seeded   by ${seededBy}`,
            ''
          ].join('\n')
    )
    if (!(api instanceof LocalPublisher) || !opts.seed) return
    await api.publisher.seed(published)
    service = new PublisherService({ storage: opts.storage, publisher: api.publisher })
    await service.listen()
    process.stderr.write(`seeding drive ${formatKey(published.key)} until Ctrl-C\n`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
  } finally {
    await service?.close()
    await api.close()
  }
}
