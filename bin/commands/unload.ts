import { openDaemon, type DaemonTarget } from './daemon-client.ts'

/** `qvacd unload ID`: drops one reference; the model is freed when none is left. */
export async function runUnload(modelId: string, opts: DaemonTarget & { json?: boolean }): Promise<void> {
  const client = await openDaemon(opts)
  try {
    const references = await client.unloadModel(modelId, { timeout: opts.timeout })
    process.stdout.write(
      opts.json
        ? JSON.stringify({ modelId, references }) + '\n'
        : references === 0
          ? `unloaded ${modelId}\n`
          : `${modelId}: ${references} reference(s) left, still loaded\n`
    )
  } finally {
    await client.close()
  }
}
