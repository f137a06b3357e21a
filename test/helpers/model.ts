import path from 'node:path'
import type { Assertion } from 'brittle'
import type { Testnet } from 'hyperdht/testnet.js'
import { writeTinyLlamaGguf, type TinyLlamaOptions, type TinyGgufResult } from '../../bench/tiny-model.ts'
import type { ModelConfig, QvacClient } from '../../client/index.ts'
import type { Daemon, DaemonOptions } from '../../daemon/index.ts'
import { connectClient, startDaemon } from './swarm.ts'

/** The generator's tiny llama model (about 650 KB), written to the test's temp dir. */
export async function tinyModel(t: Assertion, opts: TinyLlamaOptions = {}): Promise<TinyGgufResult> {
  return writeTinyLlamaGguf(path.join(await t.tmp(), 'tiny.gguf'), opts)
}

/** A daemon with a tiny model loaded through a client over the swarm (the model's dir is the models dir). */
export async function servingDaemon(
  t: Assertion,
  testnet: Testnet,
  opts: { model?: TinyLlamaOptions; config?: ModelConfig; daemon?: Partial<DaemonOptions> } = {}
): Promise<{ daemon: Daemon; client: QvacClient; modelId: string; model: TinyGgufResult }> {
  const model = await tinyModel(t, opts.model)
  const daemon = await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), ...opts.daemon })
  const client = await connectClient(t, testnet)
  const { modelId } = await client.loadModel({ source: model.path, config: { threads: 1, ...opts.config } })
  return { daemon, client, modelId, model }
}

/** Polls until `check` holds (a state reached asynchronously), failing after `ms`. */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  while (true) {
    const value = await read()
    if (check(value)) return value
    if (Date.now() > deadline) throw new Error(`condition not reached in ${ms} ms: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
