import test from 'brittle'
import path from 'node:path'
import crypto from 'node:crypto'
import { loopbackTestnet, startDaemon } from './helpers/swarm.ts'
import { eventually, tinyModel } from './helpers/model.ts'
import { startSeeder } from './helpers/seeder.ts'
import { daemons, peerClient } from './helpers/topic.ts'
import { formatKey } from '../client/index.ts'

const CONFIG = { threads: 1 }

test('--delegate-topic sends each stream to the least-loaded provider of the topic', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const [busy, idle] = await daemons(t, testnet, 'delegation-providers', 2, { modelsDir: path.dirname(model.path) })
  const onBusy = await peerClient(t, testnet, busy.publicKey)
  const onIdle = await peerClient(t, testnet, idle.publicKey)
  const busyModel = await onBusy.loadModel({ source: model.path, config: CONFIG })
  await onIdle.loadModel({ source: model.path, config: CONFIG })
  const held = onBusy.infer({ modelId: busyModel.modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })
  await held[Symbol.asyncIterator]().next()

  const front = await startDaemon(t, testnet, { topic: 'delegation-front', delegateTopic: 'delegation-providers', modelsDir: path.dirname(model.path) })
  const client = await peerClient(t, testnet, front.publicKey)
  const { modelId } = await client.loadModel({ source: model.path, config: CONFIG })
  // The front daemon hears both providers before the streams start.
  await eventually(async () => [(await onBusy.status()).peers.length, (await onIdle.status()).peers.length], ([a, b]) => a === 2 && b === 2)

  const servedBy = []
  for (let i = 0; i < 4; i++) {
    const stream = client.infer({ modelId, prompt: `via front ${i}`, maxTokens: 8, temperature: 0 }, { profiling: true })
    await stream.text()
    const trailer = await stream.trailer
    t.absent(trailer.error)
    const inference = trailer.__profilingTrailer?.events.find((e) => e.kind === 'inference')
    const delegation = trailer.__profilingTrailer?.events.find((e) => e.kind === 'delegation')
    t.ok(delegation?.tags.route, `the route is in the delegation event: ${delegation?.tags.route}`)
    servedBy.push(inference?.peer)
  }
  t.alike(servedBy, servedBy.map(() => formatKey(idle.publicKey)), 'every stream on the idle provider')
  await held.cancel()
})

test('--delegate-topic forwards the progress events of a delegated download', async (t) => {
  const testnet = await loopbackTestnet(t)
  const seeder = await startSeeder(t, testnet)
  const data = crypto.randomBytes(3 * 1024 * 1024)
  const published = await seeder.publish('weights.bin', data)
  await daemons(t, testnet, 'download-providers', 1)
  const front = await startDaemon(t, testnet, { topic: 'download-front', delegateTopic: 'download-providers' })
  const client = await peerClient(t, testnet, front.publicKey)

  const progress: number[] = []
  const result = await client.downloadAsset({ source: published.uri, onProgress: (p) => progress.push(p.bytes) })
  t.is(result.asset.sha256, crypto.createHash('sha256').update(data).digest('hex'))
  t.ok(progress.length > 0, `${progress.length} progress events came through the front daemon`)
  t.ok(progress.at(-1)! <= data.byteLength)
})
