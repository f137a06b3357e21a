import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import createTestnet from 'hyperdht/testnet.js'
import { Daemon } from '../../daemon/index.ts'
import { connect, formatKey } from '../../client/index.ts'
import { writeTinyLlamaGguf } from '../../bench/tiny-model.ts'
import { Publisher } from '../../daemon/publish/publisher.ts'
import { statusToTable } from '../format/status.ts'
import { formatBytes, formatDuration } from '../format/units.ts'
import { trailerToTable } from '../format/trailer.ts'

const TOPIC = 'qvacd-demo'

/**
 * `npm start`: a whole qvacd on loopback. A 5-node DHT testnet on 127.0.0.1 (a lone bootstrapper
 * makes first connects hang, STACK.md), a daemon with a throwaway storage dir, a client that finds
 * it by topic; pings, then a generated tiny model loaded and streamed token by token over the
 * swarm (published in a Hyperdrive, which the daemon fetches, verifies and caches), the trailer's
 * stats, the client's profile and the status table; then everything is closed and the process exits.
 */
export async function runDemo(opts: { pings: number }): Promise<void> {
  const out = (line = '') => process.stdout.write(line + '\n')
  const storage = await fs.mkdtemp(path.join(os.tmpdir(), 'qvacd-demo-'))
  const testnet = await createTestnet(5, { host: '127.0.0.1' })
  const bootstrap = testnet.bootstrap
  let daemon: Daemon | null = null
  let client: Awaited<ReturnType<typeof connect>> | null = null
  let publisher: Publisher | null = null

  try {
    out('qvacd demo: everything runs on 127.0.0.1')
    out(`  bootstrap  ${bootstrap.map((b) => `${b.host}:${b.port}`).join(',')} (testnet of ${testnet.nodes.length} DHT nodes)`)

    let t = performance.now()
    daemon = new Daemon({ topic: TOPIC, storage, bootstrap })
    await daemon.ready()
    out(`  daemon     ${formatKey(daemon.publicKey)} on topic "${TOPIC}" (ready in ${formatDuration(performance.now() - t)})`)

    t = performance.now()
    client = await connect({ topic: TOPIC, bootstrap })
    out(`  client     found the daemon by topic and connected in ${formatDuration(performance.now() - t)}`)
    out()

    const rtts: number[] = []
    for (let i = 0; i < opts.pings; i++) {
      const start = performance.now()
      await client.ping()
      rtts.push(performance.now() - start)
    }
    rtts.sort((a, b) => a - b)
    const at = (q: number) => rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))]
    out(`ping over the swarm, ${rtts.length} round trips:`)
    out(`  min ${formatDuration(rtts[0])}  median ${formatDuration(at(0.5))}  p95 ${formatDuration(at(0.95))}  max ${formatDuration(rtts[rtts.length - 1])}`)
    out()

    // From here on every call is profiled: the daemon sends its breakdown and operation events.
    client.profiler.enable({ mode: 'summary', includeServerBreakdown: true })
    t = performance.now()
    const model = writeTinyLlamaGguf(path.join(storage, 'tiny-llama.gguf'), { eos: 'suppress' })
    out(`model: a tiny random-weights llama GGUF (${formatBytes(model.size)}), generated in ${formatDuration(performance.now() - t)}`)
    out('  it has random weights, so what it writes below is gibberish: that is expected, and shows the pipeline')
    out('  works. Real GGUF models (e.g. https://huggingface.co/models?library=gguf) run the same way:')
    out('  qvacd pull https://huggingface.co/…/model.gguf, then qvacd run it.')
    publisher = new Publisher({ storage: path.join(storage, 'publisher-side'), bootstrap })
    await publisher.ready()
    const published = await publisher.publish(model.path, { name: 'tiny-llama.gguf' })
    await publisher.seed(published)
    out(`published and seeded in a Hyperdrive: ${published.uri}`)
    const loaded = await client.loadModel({ source: published.uri, config: { sequences: 2 } })
    const s = loaded.stats
    out(`loadModel over the swarm: ${loaded.modelId} (${loaded.info.architecture}, context ${loaded.info.contextSize}, ${loaded.info.threads} thread(s), ${loaded.info.backendDevice}) in ${formatDuration(s.totalLoadTime)}`)
    out(`  the daemon fetched it from the drive: ${formatBytes(s.totalBytesDownloaded)} in ${formatDuration(s.downloadTime)}, checksum ${formatDuration(s.checksumValidationTime)}, init ${formatDuration(s.modelInitializationTime)}`)
    out()

    const prompt = 'Hello world'
    out(`infer "${prompt}", 64 tokens, greedy; chunks as they arrive:`)
    process.stdout.write(`  ${prompt}`)
    const stream = client.infer({ modelId: loaded.modelId, prompt, maxTokens: 64, temperature: 0 })
    for await (const chunk of stream) process.stdout.write(chunk.text)
    out()
    out()
    out(trailerToTable(await stream.trailer))
    out()

    out('client profiler (loadModel, the stream, status), exportTable():')
    out(client.profiler.exportTable())
    out()

    out('qvacd status (asked over the swarm):')
    out(statusToTable(await client.status()))
  } finally {
    await client?.close()
    await publisher?.close()
    await daemon?.close()
    await testnet.destroy()
    await fs.rm(storage, { recursive: true, force: true })
  }
}
