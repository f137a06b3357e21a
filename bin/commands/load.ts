import { openDaemon, type DaemonTarget } from './daemon-client.ts'
import { sourceArg } from './source-arg.ts'
import { formatBytes, formatDuration } from '../format/units.ts'

/** `qvacd load SOURCE`: loads a model on the daemon (one reference) and prints its id. */
export async function runLoad(
  source: string,
  opts: DaemonTarget & { contextSize?: number; sequences?: number; threads?: number; json?: boolean }
): Promise<void> {
  const client = await openDaemon(opts)
  try {
    const loaded = await client.loadModel(
      {
        source: sourceArg(source, { remote: Boolean(opts.peer || opts.topic) }),
        config: { contextSize: opts.contextSize, sequences: opts.sequences, threads: opts.threads }
      },
      { timeout: opts.timeout }
    )
    if (opts.json) {
      process.stdout.write(JSON.stringify({ modelId: loaded.modelId, info: loaded.info, stats: loaded.stats }, null, 2) + '\n')
      return
    }
    const { info, stats } = loaded
    process.stdout.write(
      `loaded ${loaded.modelId}: ${info.name} (${info.architecture}, ${formatBytes(info.sizeBytes)}, context ${info.contextSize}, ` +
        `${info.sequences} sequence(s), ${info.threads} thread(s), ${info.backendDevice}) in ${formatDuration(stats.totalLoadTime)}\n`
    )
  } finally {
    await client.close()
  }
}
