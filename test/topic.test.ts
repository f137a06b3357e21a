import test from 'brittle'
import path from 'node:path'
import b4a from 'b4a'
import { loopbackTestnet } from './helpers/swarm.ts'
import { eventually, tinyModel } from './helpers/model.ts'
import { daemons, peerClient, seesAll, topicClient } from './helpers/topic.ts'
import { ErrorCode, formatKey, type InferStream } from '../client/index.ts'
import { runQvacd } from './helpers/cli.ts'
import { parsePrometheusText } from './helpers/openmetrics.ts'

const CONFIG = { threads: 1 }

async function drain(stream: InferStream) {
  const text = await stream.text()
  return { text, trailer: await stream.trailer }
}

/** Reads the first chunk and stops: with window 1 the daemon's sequence stays taken. */
async function hold(stream: InferStream) {
  const it = stream[Symbol.asyncIterator]()
  await it.next()
  return it
}

test('each daemon announces its load to a topic client: models by source and sha256, busy sequences, and in status', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const [a, b] = await daemons(t, testnet, 'announce', 2, { modelsDir: path.dirname(model.path) })
  const client = await topicClient(t, testnet, 'announce')
  await seesAll(client, 2)

  const onA = await peerClient(t, testnet, a.publicKey)
  const { modelId } = await onA.loadModel({ source: model.path, config: CONFIG })
  const memberA = () => client.daemons.connected().find((m) => b4a.equals(m.key, a.publicKey))
  await eventually(async () => memberA()?.load?.models ?? [], (models) => models.length === 1 && models[0].sha256 !== '')
  const announced = memberA()!.load!.models[0]
  t.is(announced.modelId, modelId)
  t.is(announced.source, model.path)
  t.is(announced.sha256, model.sha256, 'the file hash, not only the local id')
  t.is(announced.sequences, 1)
  t.is(client.daemons.connected().find((m) => b4a.equals(m.key, b.publicKey))!.load!.models.length, 0, 'the other daemon has none')

  const held = onA.infer({ modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })
  await hold(held)
  const busy = await eventually(async () => memberA()!.load!, (load) => load.models[0].busy === 1 && load.openStreams === 1)
  t.pass(`busy announced (seq ${busy.seq})`)
  const status = await onA.status()
  t.is(status.load?.models[0].busy, 1, 'status carries the same report')
  t.is(status.load?.version, status.version)
  await held.cancel()
  await eventually(async () => memberA()!.load!.models[0].busy, (n) => n === 0)
})

test('with one daemon saturated, new streams go to the others', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const all = await daemons(t, testnet, 'saturated', 3, { modelsDir: path.dirname(model.path) })
  const peers = await Promise.all(all.map((d) => peerClient(t, testnet, d.publicKey)))
  const ids = await Promise.all(peers.map((p) => p.loadModel({ source: model.path, config: CONFIG })))
  const client = await topicClient(t, testnet, 'saturated')
  await seesAll(client, 3, (c) => c.daemons.connected().every((m) => m.load!.models.length === 1))

  const saturated = formatKey(all[0].publicKey)
  const held = peers[0].infer({ modelId: ids[0].modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })
  await hold(held)
  await eventually(async () => client.daemons.connected().find((m) => m.id === saturated)!.load!.models[0].busy, (n) => n === 1)

  const { modelId } = await client.loadModel({ source: model.path, config: CONFIG })
  const servedBy: string[] = []
  for (let i = 0; i < 6; i++) {
    const { trailer } = await drain(client.infer({ modelId, prompt: `stream ${i}`, maxTokens: 8, temperature: 0 }))
    t.absent(trailer.error)
    servedBy.push(trailer.served[0].daemon as string)
  }
  t.ok(!servedBy.includes(saturated), `no stream on the saturated daemon (${servedBy.map((k) => k.slice(0, 6)).join(' ')})`)
  t.ok(servedBy.every((k) => all.some((d) => formatKey(d.publicKey) === k)))
  await held.cancel()
})

test('streams from several clients spread within ±25% of even across idle daemons', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const all = await daemons(t, testnet, 'spread', 3, { modelsDir: path.dirname(model.path) })
  await Promise.all(all.map(async (d) => (await peerClient(t, testnet, d.publicKey)).loadModel({ source: model.path, config: CONFIG })))
  const clients = await Promise.all([1, 2, 3].map(() => topicClient(t, testnet, 'spread')))
  for (const c of clients) await seesAll(c, 3, (x) => x.daemons.connected().every((m) => m.load!.models.length === 1))

  const perClient = 6
  const runs = await Promise.all(
    clients.map(async (c) => {
      const { modelId } = await c.loadModel({ source: model.path, config: CONFIG })
      return Promise.all(Array.from({ length: perClient }, (_, i) => drain(c.infer({ modelId, prompt: `spread ${i}`, maxTokens: 16, temperature: 0 }))))
    })
  )
  const counts = new Map<string, number>()
  for (const { trailer } of runs.flat()) {
    t.absent(trailer.error)
    const k = trailer.served[0].daemon as string
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  const even = (clients.length * perClient) / all.length
  const spread = all.map((d) => counts.get(formatKey(d.publicKey)) ?? 0)
  t.ok(spread.every((n) => Math.abs(n - even) <= even * 0.25), `streams per daemon ${spread.join('/')} (even: ${even})`)
})

test('a daemon that refuses with QUEUE_FULL is skipped; when all refuse the stream says QUEUE_FULL after trying each', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const all = await daemons(t, testnet, 'refuse', 3, { modelsDir: path.dirname(model.path), maxQueueDepth: 0 })
  const peers = await Promise.all(all.map((d) => peerClient(t, testnet, d.publicKey)))
  const ids = await Promise.all(peers.map((p) => p.loadModel({ source: model.path, config: CONFIG })))
  const client = await topicClient(t, testnet, 'refuse')
  await seesAll(client, 3, (c) => c.daemons.connected().every((m) => m.load!.models.length === 1))
  const { modelId } = await client.loadModel({ source: model.path, config: CONFIG })

  // Every daemon's one sequence taken, no queue allowed: each refuses.
  const held = await Promise.all(peers.map((p, i) => p.infer({ modelId: ids[i].modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })))
  await Promise.all(held.map(hold))
  const stream = client.infer({ modelId, prompt: 'x', maxTokens: 4, temperature: 0 }, { timeout: 20_000 })
  const err = await stream.text().catch((e) => e)
  t.is(err.code, ErrorCode.QUEUE_FULL, 'QUEUE_FULL once every daemon refused')
  const all3 = await stream.trailer
  t.is(new Set(all3.served.map((s) => s.daemon)).size, 3, 'tried each daemon once')
  t.ok(all3.failovers.every((f) => f.error === 'QUEUE_FULL' && f.atToken === 0), 'skipped on QUEUE_FULL before the first token')

  // One daemon frees its sequence: a new stream finds it, whichever daemon it tries first.
  await held[1].cancel()
  await held[1].trailer
  const { text, trailer: served } = await drain(client.infer({ modelId, prompt: 'x', maxTokens: 4, temperature: 0 }, { timeout: 20_000 }))
  t.ok(text.length > 0)
  t.is(served.served.at(-1)?.daemon, formatKey(all[1].publicKey), 'served by the daemon with a free sequence')
  t.ok(served.failovers.every((f) => f.error === 'QUEUE_FULL'), `${served.failovers.length} refusal(s) skipped`)
  for (const h of held) await h.cancel()
})

test('qvacd status --topic lists every daemon of the topic with its load', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const all = await daemons(t, testnet, 'operator-view', 3, { modelsDir: path.dirname(model.path) })
  const onFirst = await peerClient(t, testnet, all[0].publicKey)
  const { modelId } = await onFirst.loadModel({ source: model.path, config: CONFIG })
  const held = onFirst.infer({ modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })
  await hold(held)
  const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')

  const started = Date.now()
  const json = await runQvacd(['status', '--topic', 'operator-view', '--bootstrap', bootstrap, '--json'])
  const elapsed = Date.now() - started
  t.is(json.code, 0, json.stderr)
  const view = JSON.parse(json.stdout)
  t.is(view.topic, 'operator-view')
  t.alike(view.daemons.map((d: { publicKey: string }) => d.publicKey).sort(), all.map((d) => formatKey(d.publicKey)).sort(), 'all three daemons')
  const first = view.daemons.find((d: { publicKey: string }) => d.publicKey === formatKey(all[0].publicKey))
  t.is(first.load.models[0].busy, 1, 'with its busy sequence')
  t.is(first.load.models[0].sha256, model.sha256)
  t.ok(view.daemons.every((d: { rttMs: number; version: string }) => d.rttMs > 0 && d.version), 'round-trip time and version of each')
  t.ok(view.answeredInMs > 0)
  t.comment(`status --topic: ${Math.round(view.answeredInMs)} ms on the swarm, ${elapsed} ms with process start and exit`)

  const table = await runQvacd(['status', '--topic', 'operator-view', '--bootstrap', bootstrap])
  t.is(table.code, 0, table.stderr)
  t.ok(table.stdout.startsWith('3 daemons on topic operator-view'), table.stdout)
  for (const d of all) t.ok(table.stdout.includes(formatKey(d.publicKey)))
  t.ok(/1\/1/.test(table.stdout), 'busy/sequences of the loaded daemon')
  await held.cancel()
})

test('/metrics: counters, gauges and GenAI histograms by model, read by a Prometheus parser', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const [daemon] = await daemons(t, testnet, 'metrics', 1, { modelsDir: path.dirname(model.path), metricsPort: 0 })
  const client = await peerClient(t, testnet, daemon.publicKey)
  const { modelId } = await client.loadModel({ source: model.path, config: CONFIG })
  for (let i = 0; i < 3; i++) await drain(client.infer({ modelId, prompt: 'Hello', maxTokens: 8, temperature: 0 }))
  const held = client.infer({ modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })
  await hold(held)

  const res = await fetch(`http://127.0.0.1:${daemon.metricsPort}/metrics`)
  const text = await res.text()
  t.ok(text.endsWith('# EOF\n'), 'one closing # EOF')
  const families = new Map(parsePrometheusText(text).map((f) => [f.name, f]))
  const sample = (name: string, labels: Record<string, string> = {}) =>
    (families.get(name)?.metrics as { labels?: Record<string, string>; value?: string }[] | undefined)?.find((m) =>
      Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
    )
  t.is(sample('qvacd_calls_total', { method: 'infer' })?.value, '4', 'calls by method (three done, one open)')
  t.is(sample('qvacd_call_errors_total', { method: 'infer' })?.value, '0')
  t.is(sample('qvacd_tokens_total', { gen_ai_request_model: model.path, gen_ai_token_type: 'output' })?.value, '24', 'tokens out by model')
  t.ok(Number(sample('qvacd_tokens_total', { gen_ai_token_type: 'input' })?.value) > 0, 'tokens in')
  t.is(sample('qvacd_open_streams')?.value, '1', 'the held stream is open')
  t.is(sample('qvacd_busy_sequences', { gen_ai_request_model: model.path })?.value, '1')
  t.is(sample('qvacd_loaded_models')?.value, '1')
  t.ok(families.has('qvacd_downloaded_bytes_total'), 'bytes downloaded')
  for (const name of ['gen_ai_server_time_to_first_token_seconds', 'gen_ai_server_time_per_output_token_seconds', 'gen_ai_server_request_duration_seconds', 'gen_ai_server_token_usage']) {
    const family = families.get(name)
    t.is(family?.type, 'HISTOGRAM', `${name} is a histogram`)
  }
  // The parser flattens a labelled histogram to its buckets: the +Inf bucket is the count.
  const ttft = families.get('gen_ai_server_time_to_first_token_seconds')?.metrics[0] as unknown as { buckets: Record<string, string> }
  t.is(ttft.buckets['+Inf'], '3', 'three finished streams timed')
  t.ok(text.includes(`gen_ai_server_time_to_first_token_seconds_count{gen_ai_request_model="${model.path}",gen_ai_operation_name="text_completion"} 3`), 'labelled by model')
  t.ok(text.includes('gen_ai_server_token_usage_bucket{') && text.includes('gen_ai_token_type="output"'), 'token usage by type')
  await held.cancel()
})
