import { openDaemon, type DaemonTarget } from './daemon-client.ts'
import { loadedToTable } from '../format/models.ts'

/** `qvacd ps`: the loaded models with memory, streams and idle time. */
export async function runPs(opts: DaemonTarget & { json?: boolean }): Promise<void> {
  const client = await openDaemon(opts)
  try {
    const models = await client.listLoaded({ timeout: opts.timeout })
    const iso = (ms: number) => (ms === 0 ? null : new Date(ms).toISOString())
    process.stdout.write(
      opts.json
        ? JSON.stringify(models.map((m) => ({ ...m, loadedAt: iso(m.loadedAt), lastUsedAt: iso(m.lastUsedAt), expiresAt: iso(m.expiresAt) })), null, 2) + '\n'
        : loadedToTable(models) + '\n'
    )
  } finally {
    await client.close()
  }
}
