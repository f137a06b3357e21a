import test from 'brittle'
import path from 'node:path'
import { loopbackTestnet } from './helpers/swarm.ts'
import { startQvacd } from './helpers/cli.ts'
import { tinyModel } from './helpers/model.ts'
import { daemons, peerClient, seesAll, topicClient } from './helpers/topic.ts'
import { ErrorCode, formatKey, type InferChunk, type InferStream } from '../client/index.ts'

const CONFIG = { threads: 1 }
const bootstrapArg = (testnet: { bootstrap: Array<{ host: string; port: number }> }) =>
  testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')

async function collect(stream: InferStream, chunks: InferChunk[] = []) {
  for await (const chunk of stream) chunks.push(chunk)
  return chunks
}

test('a daemon SIGKILLed mid-stream costs the reader no error and, at temperature 0, no change in the tokens', async (t) => {
  const testnet = await loopbackTestnet(t)
  const topic = 'failover-mid'
  const model = await tinyModel(t)
  // The daemon that dies is a child process: only the model's holder, so the stream starts there.
  const doomed = await startQvacd(t, ['--topic', topic, '--storage', await t.tmp(), '--bootstrap', bootstrapArg(testnet), '--threads', '1', '--models-dir', path.dirname(model.path)])
  await daemons(t, testnet, topic, 2, { modelsDir: path.dirname(model.path) })
  const onDoomed = await peerClient(t, testnet, doomed.info.publicKey)
  await onDoomed.loadModel({ source: model.path, config: CONFIG })
  const client = await topicClient(t, testnet, topic)
  await seesAll(client, 3, (c) => c.daemons.connected().some((m) => m.load!.models.length === 1))
  const { modelId } = await client.loadModel({ source: model.path, config: CONFIG })

  const input = { modelId, prompt: 'Once upon a time', maxTokens: 300, temperature: 0 }
  const reference = await collect(client.infer(input))
  t.ok(reference.length > 0)

  const stream = client.infer(input, { window: 1 })
  const it = stream[Symbol.asyncIterator]()
  const chunks: InferChunk[] = []
  while (chunks.reduce((n, c) => n + c.tokens.length, 0) < 20) chunks.push((await it.next()).value as InferChunk)
  // The reader pauses: the daemon waits for credit, mid-stream, when it is killed.
  const killedAt = Date.now()
  doomed.child.kill('SIGKILL')
  const first = await it.next()
  const resumedAt = Date.now()
  chunks.push(first.value as InferChunk)
  for (let r = await it.next(); !r.done; r = await it.next()) chunks.push(r.value)
  const trailer = await stream.trailer

  t.absent(trailer.error, 'no error for the reader')
  t.is(trailer.failovers.length, 1, 'one failover')
  const [failover] = trailer.failovers
  t.is(failover.from, doomed.info.publicKey)
  t.not(failover.to, doomed.info.publicKey)
  t.ok(failover.atToken >= 20, `continued at token ${failover.atToken}`)
  t.is(trailer.served.length, 2)
  t.is(chunks.map((c) => c.text).join(''), reference.map((c) => c.text).join(''), 'same text as without the failure')
  t.alike(chunks.flatMap((c) => c.tokens), reference.flatMap((c) => c.tokens), 'same tokens as without the failure')
  t.alike(chunks.map((c) => c.seq), chunks.map((_, i) => i), 'one uninterrupted numbering')
  t.comment(`detection ${failover.detectMs} ms after the last sign of life; kill → next token ${resumedAt - killedAt} ms; noticed → next token (extra TTFT) ${failover.resumeMs} ms`)
})

test('a dead daemon before the first token is skipped within the deadline', async (t) => {
  const testnet = await loopbackTestnet(t)
  const topic = 'failover-dead'
  const model = await tinyModel(t)
  const doomed = await startQvacd(t, ['--topic', topic, '--storage', await t.tmp(), '--bootstrap', bootstrapArg(testnet), '--threads', '1', '--models-dir', path.dirname(model.path)])
  const live = await daemons(t, testnet, topic, 2, { modelsDir: path.dirname(model.path) })
  for (const key of [doomed.info.publicKey, ...live.map((d) => formatKey(d.publicKey))]) {
    await (await peerClient(t, testnet, key)).loadModel({ source: model.path, config: CONFIG })
  }
  const client = await topicClient(t, testnet, topic)
  await seesAll(client, 3, (c) => c.daemons.connected().every((m) => m.load!.models.length === 1))
  const { modelId } = await client.loadModel({ source: model.path, config: CONFIG })

  doomed.child.kill('SIGKILL')
  // Three streams at once on three idle daemons: one per daemon, so one goes to the dead one.
  const started = Date.now()
  const streams = [0, 1, 2].map((i) => client.infer({ modelId, prompt: `dead ${i}`, maxTokens: 8, temperature: 0 }, { timeout: 15_000 }))
  const trailers = await Promise.all(streams.map(async (s) => (await s.text(), s.trailer)))
  const elapsed = Date.now() - started
  t.ok(trailers.every((tr) => !tr.error), 'every stream completed within its 15 s deadline')
  // One per daemon, so one was sent to the dead daemon, unless its silence already passed it over.
  const moved = trailers.filter((tr) => tr.failovers.length > 0)
  t.ok(moved.length <= 1, `${moved.length} stream(s) moved`)
  t.ok(trailers.every((tr) => tr.served.at(-1)?.daemon !== doomed.info.publicKey), 'none served by the dead daemon')
  t.ok(moved.every((tr) => tr.failovers[0].from === doomed.info.publicKey && tr.failovers[0].atToken === 0), 'moved away from it before the first token')
  t.comment(moved.length > 0 ? `dead daemon skipped after ${moved[0].failovers[0].detectMs} ms of silence; all three streams done in ${elapsed} ms` : `dead daemon passed over as silent; all three streams done in ${elapsed} ms`)
})

test('failover: false ends the stream with the daemon', async (t) => {
  const testnet = await loopbackTestnet(t)
  const topic = 'failover-off'
  const model = await tinyModel(t)
  const doomed = await startQvacd(t, ['--topic', topic, '--storage', await t.tmp(), '--bootstrap', bootstrapArg(testnet), '--threads', '1', '--models-dir', path.dirname(model.path)])
  await daemons(t, testnet, topic, 1, { modelsDir: path.dirname(model.path) })
  await (await peerClient(t, testnet, doomed.info.publicKey)).loadModel({ source: model.path, config: CONFIG })
  const client = await topicClient(t, testnet, topic)
  await seesAll(client, 2, (c) => c.daemons.connected().some((m) => m.load!.models.length === 1))
  const { modelId } = await client.loadModel({ source: model.path, config: CONFIG })

  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 200, temperature: 0 }, { window: 1, failover: false })
  const it = stream[Symbol.asyncIterator]()
  await it.next()
  doomed.child.kill('SIGKILL')
  const err = await (async () => {
    for (let r = await it.next(); !r.done; r = await it.next());
  })().catch((e) => e)
  t.is(err?.code, ErrorCode.CONNECTION_LOST, 'the loss reaches the reader')
  t.is((await stream.trailer).failovers.length, 0)
})
