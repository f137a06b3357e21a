import { openDaemon, type DaemonTarget } from './daemon-client.ts'
import { sourceArg } from './source-arg.ts'
import { formatBytes } from '../format/units.ts'

/** `qvacd rm SOURCE|SHA`: deletes a cached model and frees its disk; a loaded one only with --force. */
export async function runRm(target: string, opts: DaemonTarget & { force?: boolean; json?: boolean }): Promise<void> {
  const client = await openDaemon(opts)
  try {
    const isSha = /^[0-9a-f]{8,64}$/i.test(target)
    const result = await client.removeCache(isSha ? target : sourceArg(target), { force: opts.force, timeout: opts.timeout })
    if (opts.json) {
      process.stdout.write(JSON.stringify(result) + '\n')
      return
    }
    for (const modelId of result.unloaded) process.stdout.write(`unloaded ${modelId}\n`)
    for (const r of result.removed) {
      process.stdout.write(r.sha256 ? `deleted ${r.sha256.slice(0, 12)} (${formatBytes(r.size)} freed)\n` : `forgot ${target} (a local file: the file itself stays)\n`)
    }
  } finally {
    await client.close()
  }
}
