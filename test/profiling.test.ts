import test from 'brittle'
import c from 'compact-encoding'
import { loopbackTestnet } from './helpers/swarm.ts'
import { servingDaemon } from './helpers/model.ts'
import { connectLocal, formatKey } from '../client/index.ts'
import { callRpc } from '../client/rpc-call.ts'
import { CallGuard } from '../client/call-guard.ts'
import { pingResponse } from '../shared/messages.ts'
import { OPERATION_EVENT_KEY } from '../shared/profiler/types.ts'

test('the profiling envelope comes if and only if the call asks, and costs zero bytes otherwise', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, daemon } = await servingDaemon(t, testnet)
  const transport = await client.ready()

  const plain = await callRpc(transport, 'ping', null, new CallGuard())
  t.absent(plain.profiling)
  t.is(plain.bytesReceived, 1 + c.encode(pingResponse, plain.value).byteLength, 'flags byte and the body, nothing more')
  t.absent((await client.ping()).__profiling, 'no envelope on a plain call')

  const asked = await client.ping({ profiling: true })
  const envelope = asked.__profiling
  t.ok(envelope, 'envelope when asked')
  if (!envelope) return
  const b = envelope.serverBreakdown
  t.ok([b.decodeMs, b.queueMs, b.handlerMs, b.encodeMs].every((ms) => ms >= 0))
  t.ok(b.totalServerMs >= b.decodeMs + b.handlerMs - 0.001, 'the parts fit in the total')
  const rpcEvent = envelope.events.find((e) => e.kind === 'rpc')
  t.is(rpcEvent?.op, 'ping')
  t.is(rpcEvent?.peer, formatKey(daemon.publicKey))
  t.is(rpcEvent?.hop, 0)
  t.is(rpcEvent?.ms, b.totalServerMs, 'the call’s event spans the server’s time')
  t.is(rpcEvent?.traceId, rpcEvent?.profileId, 'a trace the daemon started')

  // Over the control socket no key is known to the caller: the daemon sends its own.
  const local = await connectLocal({ storage: daemon.storage })
  t.teardown(() => local.close())
  const overSocket = (await local.ping({ profiling: true })).__profiling?.events.find((e) => e.kind === 'rpc')
  t.is(overSocket?.peer, formatKey(daemon.publicKey), 'the daemon’s key over the control socket too')
  t.ok(overSocket && overSocket.profileId !== rpcEvent?.profileId, 'a profile per call')
})

test('a profiled call without a trace of its own records the trace the daemon started; one given is kept', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client } = await servingDaemon(t, testnet)
  client.profiler.enable({ mode: 'verbose' })
  const own = (await client.ping()).__profiling?.events.find((e) => e.kind === 'rpc')
  t.ok(own?.traceId, 'the daemon started a trace')
  const given = (await client.ping({ traceId: 'feedbeef' })).__profiling?.events.find((e) => e.kind === 'rpc')
  t.is(given?.traceId, 'feedbeef')
  const records = client.profiler.exportJSON().records ?? []
  t.is(records.length, 2)
  t.is(records[0].traceId, own?.traceId, 'the record follows the daemon’s trace')
  t.is(records[0].profileId, own?.profileId)
  t.is(records[1].traceId, 'feedbeef')
  t.ok(records[0].bytesSent < records[1].bytesSent, 'no trace id on the wire when the caller had none')
})

test('the client profiler records loadModel and a stream with the gauges and tags of the design', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, model } = await servingDaemon(t, testnet)
  client.profiler.enable({ mode: 'verbose', includeServerBreakdown: true })
  const records: string[] = []
  client.profiler.onRecord((r) => records.push(r.method))

  const loaded = await client.loadModel({ source: model.path, config: { threads: 1 } })
  const load = loaded.__profiling?.events.find((e) => e.kind === 'load')
  t.ok(load, 'a load event')
  for (const gauge of ['totalLoadTime', 'modelInitializationTime', 'downloadTime', 'totalBytesDownloaded', 'downloadSpeedBps', 'checksumValidationTime']) {
    t.ok(gauge in (load?.gauges ?? {}), `load gauge ${gauge}`)
  }
  t.alike(Object.keys(load?.tags ?? {}).sort(), ['cacheHit', 'modelType', 'sourceType'])

  const stream = client.infer({ modelId: loaded.modelId, prompt: 'Hello', maxTokens: 16, temperature: 0 })
  await stream.text()
  const trailer = await stream.trailer
  const envelope = trailer.__profilingTrailer
  const inference = envelope?.events.find((e) => e.kind === 'inference')
  t.ok(inference, 'the trailer carries an inference event')
  for (const gauge of ['timeToFirstToken', 'tokensPerSecond', 'promptTokens', 'generatedTokens', 'promptEvalTime', 'interTokenLatencyP50', 'interTokenLatencyP95']) {
    t.ok(gauge in (inference?.gauges ?? {}), `infer gauge ${gauge}`)
  }
  t.is(inference?.tags.stopReason, 'length')
  t.is(inference?.tags.backendDevice, 'cpu')
  t.is(inference?.gauges.generatedTokens, 16)
  t.ok(envelope && envelope.events.every((e) => e.traceId === inference?.traceId), 'one trace id for the call')

  // The client hands records over after the call returns: listeners run a few ms later, or as
  // soon as anything reads the profiler.
  const exported = client.profiler.exportJSON()
  t.alike(records, ['loadModel', 'infer'])
  for (const name of ['loadModel.clientTotalMs', 'loadModel.clientOverheadMs', 'loadModel.server.totalServerMs', 'loadModel.totalLoadTime', 'infer.clientTotalMs', 'infer.timeToFirstToken', 'infer.tokensPerSecond']) {
    t.ok(exported.metrics[name]?.count === 1, `metric ${name}`)
  }
  t.is(exported.metrics['infer.timeToFirstToken'].type, 'duration')
  t.ok(exported.metrics['infer.clientOverheadMs'].min >= 0)
  t.is(exported.records?.length, 2)
  t.ok((exported[OPERATION_EVENT_KEY]?.length ?? 0) >= 4)
  t.ok(client.profiler.exportTable().includes('infer.timeToFirstToken'))
})

test('a disabled profiler records nothing', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  await client.ping()
  await client.infer({ modelId, prompt: 'Hello', maxTokens: 4 }).trailer
  t.absent(client.profiler.enabled)
  t.alike(client.profiler.exportJSON().metrics, {})
})

test('the daemon keeps operator metrics: call latency, TTFT and tokens/s', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, daemon, modelId } = await servingDaemon(t, testnet)
  await client.infer({ modelId, prompt: 'Hello', maxTokens: 8, temperature: 0 }).trailer
  const metrics = daemon.router.metrics
  t.is(metrics.metric('infer.totalServerMs')?.count, 1)
  t.is(metrics.metric('infer.timeToFirstToken')?.count, 1)
  t.ok((metrics.metric('infer.tokensPerSecond')?.last ?? 0) > 0)
  t.is(metrics.metric('loadModel.totalServerMs')?.count, 1)
})
