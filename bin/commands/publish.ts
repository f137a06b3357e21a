import { Publisher } from '../../daemon/publish/publisher.ts'
import { parseBootstrap } from '../../client/dht.ts'
import { formatKey, parseKey } from '../../shared/keys.ts'
import { formatBytes } from '../../client/profiler/format-units.ts'

/**
 * `qvacd publish FILE`: into this storage's publish drive (and registry), then seeded by this
 * command until Ctrl-C — the daemon does not seed what `publish` wrote (README).
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
  const publisher = new Publisher({ storage: opts.storage, bootstrap: opts.bootstrap ? parseBootstrap(opts.bootstrap) : undefined })
  await publisher.ready()
  try {
    const published = await publisher.publish(file, {
      name: opts.name,
      registryKey: opts.registry ? parseKey(opts.registry, 'registry key') : undefined,
      registryName: opts.registry ? opts.name : undefined,
      about: { engine: opts.engine, quantization: opts.quantization, description: opts.description }
    })
    const info = {
      uri: published.uri,
      size: published.size,
      sha256: published.sha256,
      written: published.written,
      registry: published.entry ? { name: published.entry.name, key: opts.registry } : null
    }
    process.stdout.write(
      opts.json
        ? JSON.stringify(info) + '\n'
        : [
            `published ${published.uri}`,
            `  size     ${formatBytes(published.size)} (${published.size} bytes)`,
            `  sha256   ${published.sha256}`,
            ...(published.entry ? [`  registry ${published.entry.name} in ${opts.registry}`] : []),
            ''
          ].join('\n')
    )
    if (!opts.seed) return
    await publisher.seed(published)
    process.stderr.write(`seeding drive ${formatKey(published.key)} until Ctrl-C\n`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
  } finally {
    await publisher.close()
  }
}
