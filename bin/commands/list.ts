import { openDaemon, type DaemonTarget } from './daemon-client.ts'
import { cacheToTable } from '../format/models.ts'

/** `qvacd list`: the daemon's cached models (the operator's: local daemon only). */
export async function runList(opts: DaemonTarget & { json?: boolean }): Promise<void> {
  const client = await openDaemon(opts)
  try {
    const listing = await client.listCache({ timeout: opts.timeout })
    process.stdout.write(
      opts.json
        ? JSON.stringify({ ...listing, models: listing.models.map((m) => ({ ...m, lastUsedAt: new Date(m.lastUsedAt).toISOString() })) }, null, 2) + '\n'
        : cacheToTable(listing) + '\n'
    )
  } finally {
    await client.close()
  }
}
