import test from 'brittle'
import { loopbackTestnet, connectClient } from './helpers/swarm.ts'
import { servingDaemon, eventually } from './helpers/model.ts'
import { ErrorCode, type QvacClient, type InferStream } from '../client/index.ts'

const streamsOf = async (client: QvacClient) => (await client.status()).streams

async function firstChunk(stream: InferStream) {
  const it = stream[Symbol.asyncIterator]()
  const first = await it.next()
  return { it, first }
}

test('cancel mid-stream stops generation within one token and frees the sequence', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })
  await firstChunk(stream) // the reader stops here: generation runs out of credit
  const [paused] = await eventually(
    () => streamsOf(client),
    (s) => s.length === 1 && s[0].state === 'waiting-for-credit'
  )

  await stream.cancel()
  const trailer = await stream.trailer
  t.is(trailer.stopReason, 'cancelled')
  t.absent(trailer.error)
  t.ok(trailer.stats.generatedTokens - paused.generatedTokens <= 1, `stopped within a token (${paused.generatedTokens} → ${trailer.stats.generatedTokens})`)
  const status = await client.status()
  t.alike(status.streams, [], 'no stream left')
  t.is(status.inFlight, 0)
  t.is(status.models[0].activeStreams, 0, 'sequence released')
})

test('leaving the loop early cancels the stream', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 2 })
  let chunks = 0
  for await (const chunk of stream) {
    t.ok(chunk.tokens.length > 0)
    if (++chunks === 2) break
  }
  const trailer = await stream.trailer
  t.is(trailer.stopReason, 'cancelled')
  t.ok(trailer.stats.generatedTokens < 400)
  t.alike(await streamsOf(client), [])
})

test('aborting the signal cancels the stream and the loop throws REQUEST_ABORTED', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  const controller = new AbortController()
  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1, signal: controller.signal })
  const { it } = await firstChunk(stream)
  controller.abort()
  const err = await it.next().catch((e) => e)
  t.is(err.code, ErrorCode.REQUEST_ABORTED)
  t.is((await stream.trailer).stopReason, 'cancelled')
  await eventually(() => streamsOf(client), (s) => s.length === 0)
  t.pass('the daemon stopped the stream')
})

test('a dropped connection stops generation and frees the sequence', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { daemon, client, modelId } = await servingDaemon(t, testnet)
  const watcher = await connectClient(t, testnet, { peer: daemon.publicKey })
  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })
  await firstChunk(stream)
  await eventually(() => streamsOf(watcher), (s) => s.length === 1 && s[0].state === 'waiting-for-credit')

  const transport = await client.ready()
  transport.rpc.stream.destroy()
  const trailer = await stream.trailer
  t.is(trailer.stopReason, 'error')
  t.is(trailer.error?.code, ErrorCode.CONNECTION_LOST, 'the client gets a trailer, not a hang')

  const status = await eventually(() => watcher.status(), (s) => s.streams.length === 0 && s.models[0].activeStreams === 0)
  t.is(status.inFlight, 0, 'nothing in flight on the daemon')
})

test('a paused reader keeps the daemon within the window; resuming gets every token', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  const window = 4
  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 300, temperature: 0 }, { window })
  const { it, first } = await firstChunk(stream)

  const [paused] = await eventually(() => streamsOf(client), (s) => s[0]?.state === 'waiting-for-credit')
  await new Promise((resolve) => setTimeout(resolve, 200))
  const [later] = await streamsOf(client)
  t.ok(paused.framesSent <= window, `frames sent ${paused.framesSent} ≤ window ${window}`)
  t.ok(paused.bufferedTokens <= 32, `held back ${paused.bufferedTokens} ≤ one frame`)
  t.is(later.generatedTokens, paused.generatedTokens, 'generation waits while the reader pauses')
  t.ok(paused.generatedTokens < 300)

  const tokens = [...(first.value?.tokens ?? [])]
  for (let r = await it.next(); !r.done; r = await it.next()) tokens.push(...r.value.tokens)
  const trailer = await stream.trailer
  t.is(trailer.stopReason, 'length')
  t.is(tokens.length, 300, 'every token arrived')
  t.is(trailer.stats.generatedTokens, 300)
})

test('the first token leaves alone; later tokens share frames', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  const frames: number[] = []
  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 200, temperature: 0 })
  for await (const chunk of stream) frames.push(chunk.tokens.length)
  t.is(frames[0], 1, 'first frame: the first token only')
  t.is(frames.reduce((a, b) => a + b, 0), 200)
  t.ok(frames.every((n) => n >= 1 && n <= 32), 'frames hold 1..32 tokens')
  t.ok(frames.slice(1).some((n) => n > 1), `later tokens share frames: ${frames.length} frames for 200 tokens`)
  t.is((await stream.trailer).frames, frames.length)
})

test("the daemon's frameMs: a stream faster than it leaves in full frames of 32 tokens after the first", async (t) => {
  const testnet = await loopbackTestnet(t)
  // Held until a frame is full (a minute is longer than any stream here takes), the last one by the stream's end.
  const { client, modelId } = await servingDaemon(t, testnet, { daemon: { frameMs: 60_000 } })
  const frames: number[] = []
  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 200, temperature: 0 })
  for await (const chunk of stream) frames.push(chunk.tokens.length)
  t.alike(frames, [1, 32, 32, 32, 32, 32, 32, 7], 'the first token alone, then full frames, then the rest at the end')
  t.is((await stream.trailer).frames, 8)
})

test('8 concurrent streams on one connection and across 3 clients all complete correctly', async (t) => {
  const testnet = await loopbackTestnet(t)
  // Every prompt gets " the a an and of": output is fixed, so batching cannot change it.
  const { daemon, client, modelId } = await servingDaemon(t, testnet, { model: { eos: 5 }, config: { sequences: 4 } })
  const run = (c: QvacClient, i: number) => c.infer({ modelId, prompt: `prompt number ${i}`, maxTokens: 50, temperature: 0 })

  const one = await Promise.all(Array.from({ length: 8 }, (_, i) => run(client, i)).map(async (s) => [await s.text(), await s.trailer] as const))
  for (const [text, trailer] of one) {
    t.is(text, ' the a an and of')
    t.is(trailer.stopReason, 'eos')
  }
  t.ok(one.some(([, trailer]) => trailer.stats.queueMs > 0), 'with 4 sequences, some of the 8 waited their turn')

  const others = [await connectClient(t, testnet, { peer: daemon.publicKey }), await connectClient(t, testnet, { peer: daemon.publicKey })]
  const clients = [client, ...others]
  const streams = clients.flatMap((c, ci) => [0, 1, 2].map((i) => run(c, ci * 3 + i)))
  const results = await Promise.all(streams.map(async (s) => [await s.text(), (await s.trailer).stopReason]))
  t.alike(results, streams.map(() => [' the a an and of', 'eos']), '9 streams across 3 clients')
  t.alike(await streamsOf(client), [])
})

test('a full queue refuses with QUEUE_FULL while the others finish', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet, { config: { sequences: 1, maxQueueDepth: 1 } })
  const holder = client.infer({ modelId, prompt: 'Hello', maxTokens: 100, temperature: 0 }, { window: 1 })
  const { it } = await firstChunk(holder) // holds the only sequence, paused
  const queued = client.infer({ modelId, prompt: 'Hello', maxTokens: 20, temperature: 0 })
  await eventually(() => client.status(), (s) => s.models[0].queuedStreams === 1)

  const refused = await client.infer({ modelId, prompt: 'Hello', maxTokens: 20, temperature: 0 }).trailer
  t.is(refused.stopReason, 'error')
  t.is(refused.error?.code, ErrorCode.QUEUE_FULL)

  for (let r = await it.next(); !r.done; r = await it.next());
  t.is((await holder.trailer).stopReason, 'length')
  t.is(await queued.text().then(() => 'done'), 'done')
  const trailer = await queued.trailer
  t.is(trailer.stopReason, 'length')
  t.ok(trailer.stats.queueMs > 0, `queued for ${trailer.stats.queueMs.toFixed(1)} ms`)
})
