import test from 'brittle'
import HyperDHT from 'hyperdht'
import { once } from 'node:events'
import path from 'node:path'
import { loopbackTestnet, startDaemon, connectClient } from './helpers/swarm.ts'
import { tinyModel, eventually } from './helpers/model.ts'
import { startQvacd } from './helpers/cli.ts'
import { ErrorCode, formatKey } from '../client/index.ts'
import { parseKey } from '../shared/keys.ts'

test('loadModel and a stream through a delegating daemon carry the provider events, two hops', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const provider = await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'provider' })
  const front = await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'front', delegateTo: provider.publicKey })
  const client = await connectClient(t, testnet, { topic: 'front' })
  const direct = await connectClient(t, testnet, { topic: 'provider' })
  const providerKey = formatKey(provider.publicKey)

  const loaded = await client.loadModel({ source: model.path, config: { threads: 1 } }, { profiling: true })
  t.ok(loaded.modelId.startsWith(providerKey.slice(0, 8) + ':'), 'a delegated model id')
  const envelope = loaded.__profiling
  const providerLoad = envelope?.events.find((e) => e.kind === 'load')
  t.is(providerLoad?.hop, 1, 'the load happened one hop away')
  t.is(providerLoad?.peer, providerKey, 'on the provider')
  const delegationEvent = envelope?.events.find((e) => e.kind === 'delegation')
  t.is(delegationEvent?.hop, 0)
  t.is(delegationEvent?.tags.provider, providerKey)
  t.ok(envelope?.delegationBreakdown && envelope.delegationBreakdown.totalDelegationMs >= envelope.delegationBreakdown.serverWaitMs)
  t.is(new Set(envelope?.events.map((e) => e.traceId)).size, 1, 'one trace across both daemons')
  t.is((await direct.status()).models.length, 1, 'the model lives on the provider')
  t.is((await client.status()).models.length, 0, 'not on the front daemon')

  const viaFront = client.infer({ modelId: loaded.modelId, prompt: 'Hello', maxTokens: 24, temperature: 0 }, { profiling: true })
  const [providerId] = loaded.modelId.split(':').slice(1)
  const fromProvider = await direct.infer({ modelId: providerId, prompt: 'Hello', maxTokens: 24, temperature: 0 }).text()
  t.is(await viaFront.text(), fromProvider, 'the same tokens through the front daemon')
  const trailer = await viaFront.trailer
  t.is(trailer.stopReason, 'length')
  t.is(trailer.stats.generatedTokens, 24)
  const streamEnvelope = trailer.__profilingTrailer
  const inference = streamEnvelope?.events.find((e) => e.kind === 'inference')
  t.is(inference?.hop, 1, 'the stream trailer carries the provider inference event')
  t.is(inference?.peer, providerKey)
  t.ok(streamEnvelope?.delegationBreakdown, 'and the delegation breakdown')

  t.is(await client.unloadModel(loaded.modelId), 0, 'unload goes to the provider')
  t.alike((await direct.status()).models, [])
  t.ok(front.publicKey)
})

test('a client cancel through the front daemon reaches the provider', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const provider = await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'provider' })
  await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'front', delegateTo: provider.publicKey })
  const client = await connectClient(t, testnet, { topic: 'front' })
  const direct = await connectClient(t, testnet, { topic: 'provider' })
  const { modelId } = await client.loadModel({ source: model.path, config: { threads: 1 } })

  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })
  const it = stream[Symbol.asyncIterator]()
  await it.next()
  await eventually(() => direct.status(), (s) => s.streams[0]?.state === 'waiting-for-credit')
  await stream.cancel()
  const trailer = await stream.trailer
  t.is(trailer.stopReason, 'cancelled')
  const status = await eventually(() => direct.status(), (s) => s.streams.length === 0)
  t.ok(status.models[0].activeStreams === 0, 'the provider stopped and freed the sequence')
})

test('an unreachable provider is DELEGATION_FAILED, or runs locally with fallbackToLocal', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const nobody = HyperDHT.keyPair().publicKey
  const front = await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), delegateTo: nobody, providerConnectTimeout: 1500 })
  const client = await connectClient(t, testnet)

  const err = await client.loadModel({ source: model.path, config: { threads: 1 } }).catch((e) => e)
  t.is(err.code, ErrorCode.DELEGATION_FAILED, err.message)

  const local = await client.loadModel({
    source: model.path,
    config: { threads: 1 },
    delegate: { peer: nobody, fallbackToLocal: true }
  })
  t.absent(local.modelId.includes(':'), 'loaded on the front daemon itself')
  t.is((await client.status()).models.length, 1)
  t.ok(front.publicKey)
})

test('allowlists apply on both sides of a delegation', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const clientKeyPair = HyperDHT.keyPair()
  const closedProvider = await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'closed', allow: [HyperDHT.keyPair().publicKey] })
  const openProvider = await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'open' })

  await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'front', delegateTo: closedProvider.publicKey, providerConnectTimeout: 1500 })
  const client = await connectClient(t, testnet, { topic: 'front' })
  const refusedThere = await client.loadModel({ source: model.path }).catch((e) => e)
  t.is(refusedThere.code, ErrorCode.DELEGATION_FAILED, "the provider's allowlist refused the front daemon")

  await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'guarded', allow: [clientKeyPair.publicKey] })
  const guardedClient = await connectClient(t, testnet, { topic: 'guarded', keyPair: clientKeyPair })
  const refusedHere = await guardedClient
    .loadModel({ source: model.path, delegate: { peer: openProvider.publicKey } })
    .catch((e) => e)
  t.is(refusedHere.code, ErrorCode.DELEGATION_REFUSED, "the front daemon's own allowlist refused the provider")
})

test('a provider killed mid-stream gives the client a trailer with an error, never a hang', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  const { child, info } = await startQvacd(t, ['--topic', 'doomed', '--storage', await t.tmp(), '--bootstrap', bootstrap, '--threads', '1', '--models-dir', path.dirname(model.path)])
  await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'front', delegateTo: parseKey(info.publicKey) })
  const client = await connectClient(t, testnet, { topic: 'front' })
  const { modelId } = await client.loadModel({ source: model.path, config: { threads: 1 } })

  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })
  const it = stream[Symbol.asyncIterator]()
  await it.next()
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
  const trailer = await stream.trailer
  t.is(trailer.stopReason, 'error')
  t.is(trailer.error?.code, ErrorCode.PROVIDER_LOST, trailer.error?.message)
  t.is((await client.status()).inFlight, 0, 'the front daemon let go of the stream')
})

test('a daemon delegates to whichever daemon announces its delegation topic', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const provider = await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'providers' })
  await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'front', delegateTopic: 'providers' })
  const client = await connectClient(t, testnet, { topic: 'front' })
  const loaded = await client.loadModel({ source: model.path, config: { threads: 1 } })
  t.ok(loaded.modelId.startsWith(formatKey(provider.publicKey).slice(0, 8) + ':'), 'found the provider by topic')
  t.is(await client.infer({ modelId: loaded.modelId, prompt: 'Hello', maxTokens: 4, temperature: 0 }).trailer.then((tr) => tr.stopReason), 'length')

  await startDaemon(t, testnet, { modelsDir: path.dirname(model.path), topic: 'lonely', delegateTopic: 'nobody-announces-this', fallbackToLocal: true, providerConnectTimeout: 1500 })
  const lonely = await connectClient(t, testnet, { topic: 'lonely' })
  const local = await lonely.loadModel({ source: model.path, config: { threads: 1 } })
  t.absent(local.modelId.includes(':'), 'no provider on the topic: loaded locally')
})
