import test from 'brittle'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import readline from 'node:readline'
import OpenAI from 'openai'
import type { Assertion } from 'brittle'
import type { Testnet } from 'hyperdht/testnet.js'
import { loopbackTestnet, startDaemon, connectClient } from './helpers/swarm.ts'
import { tinyModel, eventually } from './helpers/model.ts'
import { PERSON_SCHEMA, personProblems } from './helpers/json-schema.ts'
import { connectLocal, type QvacClient } from '../client/index.ts'
import { runQvacd } from './helpers/cli.ts'
import { benchmark } from '../bench/run.ts'
import { Gateway, type GatewayOptions } from '../gateway/server.ts'
import { mapChatCompletion, mapCompletion, mapEmbedding } from '../gateway/request-mapping.ts'
import { HttpError } from '../gateway/errors.ts'
import type { CompletionRecord } from '../gateway/route-context.ts'
import type { TinyLlamaOptions } from '../bench/tiny-model.ts'
import { emptyBenchCache } from './helpers/bench-report.ts'

/** A daemon on the testnet, a gateway in-process on 127.0.0.1 reaching it by topic, and the official SDK pointed at it. */
async function gatewayOverSwarm(
  t: Assertion,
  opts: { model?: TinyLlamaOptions; gateway?: Partial<GatewayOptions>; apiKey?: string } = {}
): Promise<{ testnet: Testnet; gateway: Gateway; openai: OpenAI; client: QvacClient; modelPath: string; embd: number }> {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t, opts.model)
  await startDaemon(t, testnet, { modelsDir: path.dirname(model.path) })
  const client = await connectClient(t, testnet)
  const gateway = await startGateway(t, { client, models: [{ name: 'tiny', source: model.path }], ...opts.gateway })
  const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: opts.apiKey ?? 'unused', maxRetries: 0 })
  return { testnet, gateway, openai, client, modelPath: model.path, embd: model.options.embd }
}

async function startGateway(t: Assertion, opts: GatewayOptions): Promise<Gateway> {
  const gateway = new Gateway(opts)
  await gateway.listen()
  t.teardown(() => gateway.close(), { order: -1 })
  return gateway
}

async function statusOf(promise: Promise<unknown>): Promise<number | string> {
  try {
    await promise
    return 'no error'
  } catch (err) {
    return (err as { status?: number }).status ?? String(err)
  }
}

test('the openai SDK through the gateway: models, completions, chat, streams equal to whole responses, usage', async (t) => {
  const { openai, client, modelPath } = await gatewayOverSwarm(t)

  const models = await openai.models.list()
  t.ok(models.data.some((m) => m.id === 'tiny'), 'the configured name is listed')

  const prompt = 'The quick brown fox'
  const completion = await openai.completions.create({ model: 'tiny', prompt, max_tokens: 16, temperature: 0 })
  const { modelId } = await client.loadModel({ source: modelPath })
  const direct = await client.infer({ modelId, prompt, maxTokens: 16, temperature: 0 }).text()
  t.is(completion.choices[0].text, direct, 'the same greedy text as the client library')
  t.is(completion.choices[0].finish_reason, 'length')
  t.is(completion.usage?.completion_tokens, 16)
  t.ok((completion.usage?.prompt_tokens ?? 0) > 1)
  t.is(completion.object, 'text_completion')

  const messages = [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Say hello' }
  ]
  const { data: chat, response } = await openai.chat.completions
    .create({ model: 'tiny', messages, max_tokens: 12, temperature: 0 })
    .withResponse()
  t.is(chat.object, 'chat.completion')
  t.is(chat.choices[0].message.role, 'assistant')
  t.ok(chat.choices[0].message.content && chat.choices[0].message.content.length > 0, 'a reply')
  t.is(chat.choices[0].finish_reason, 'length')
  t.ok(/^[0-9a-f]+$/.test(response.headers.get('qvacd-trace-id') ?? ''), 'qvacd-trace-id header')
  const timing = response.headers.get('server-timing') ?? ''
  t.ok(/ttft;dur=[\d.]+/.test(timing) && /queue;dur=/.test(timing) && /server;dur=/.test(timing), `Server-Timing: ${timing}`)

  const stream = await openai.chat.completions.create({
    model: 'tiny',
    messages,
    max_tokens: 12,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true }
  })
  let streamed = ''
  let finish: string | null = null
  let usage: OpenAI.CompletionUsage | null | undefined = null
  let chunks = 0
  for await (const chunk of stream) {
    chunks++
    streamed += chunk.choices[0]?.delta.content ?? ''
    finish = chunk.choices[0]?.finish_reason ?? finish
    if (chunk.usage) usage = chunk.usage
  }
  t.is(streamed, chat.choices[0].message.content, 'the stream equals the whole response at temperature 0')
  t.ok(chunks >= 4, `the first token in a chunk of its own, the rest in frames after it, then finish and usage (${chunks} chunks)`)
  t.is(finish, 'length')
  t.is(usage?.completion_tokens, 12, 'usage at the end (include_usage)')

  const textStream = await openai.completions.create({ model: 'tiny', prompt, max_tokens: 16, temperature: 0, stream: true })
  let text = ''
  for await (const chunk of textStream) text += chunk.choices[0]?.text ?? ''
  t.is(text, direct, 'a completions stream too')

  const stopped = await openai.completions.create({ model: 'tiny', prompt, max_tokens: 16, temperature: 0, stop: [direct.slice(4, 8)] })
  t.is(stopped.choices[0].finish_reason, 'stop', 'a stop sequence')
  t.is(stopped.choices[0].text, direct.slice(0, 4))
})

test('the openai SDK through the gateway: embeddings and JSON-schema output', async (t) => {
  const { openai, embd } = await gatewayOverSwarm(t)

  const embedded = await openai.embeddings.create({ model: 'tiny', input: ['hello world', 'the model', 'hello world'] })
  t.is(embedded.data.length, 3)
  t.is(embedded.data[0].embedding.length, embd, 'the embedding size of the model (base64, the SDK default)')
  t.alike(embedded.data[0].embedding, embedded.data[2].embedding, 'same input, same vector')
  t.unlike(embedded.data[0].embedding, embedded.data[1].embedding)
  t.ok(embedded.usage.prompt_tokens > 3)
  const single = await openai.embeddings.create({ model: 'tiny', input: 'hello world', encoding_format: 'float' })
  t.ok(
    single.data[0].embedding.every((x, i) => Math.abs(x - embedded.data[0].embedding[i]) < 1e-6),
    'a string input, as floats: the same vector'
  )

  for (const seed of [1, 2]) {
    const chat = await openai.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'Describe a person as JSON' }],
      max_tokens: 200,
      temperature: 0.9,
      seed,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON_SCHEMA as unknown as Record<string, unknown> } }
    })
    const content = chat.choices[0].message.content ?? ''
    let value: unknown
    t.execution(() => (value = JSON.parse(content)), `parses: ${content}`)
    t.alike(personProblems(value), [], 'matches the schema')
    t.is(chat.choices[0].finish_reason, 'stop')
  }
  const object = await openai.chat.completions.create({
    model: 'tiny',
    messages: [{ role: 'user', content: 'JSON please' }],
    max_tokens: 300,
    temperature: 0,
    response_format: { type: 'json_object' }
  })
  if (object.choices[0].finish_reason === 'stop') {
    const value = JSON.parse(object.choices[0].message.content ?? '')
    t.ok(value !== null && typeof value === 'object' && !Array.isArray(value), 'json_object: an object')
  } else {
    t.ok(object.choices[0].message.content?.startsWith('{'), 'json_object: an object, cut by max_tokens')
  }
})

test('a client that leaves a stream cancels it on the daemon; a full queue is 429', async (t) => {
  const { openai, client, modelPath, gateway } = await gatewayOverSwarm(t, { model: { ctx: 4096 } })
  // One sequence and no queue: a second request while one streams is QUEUE_FULL.
  const { modelId } = await client.loadModel({ source: modelPath, config: { threads: 1, sequences: 1, maxQueueDepth: 0, contextSize: 4096 } })
  const completions: CompletionRecord[] = []
  gateway.on('completion', (record: CompletionRecord) => completions.push(record))

  const stream = await openai.chat.completions.create({
    model: modelId,
    messages: [{ role: 'user', content: 'Go on forever' }],
    max_tokens: 4000,
    temperature: 0,
    stream: true
  })
  let seen = 0
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta.content) seen++
    if (seen === 3) {
      t.is(await statusOf(openai.completions.create({ model: modelId, prompt: 'x', max_tokens: 4 })), 429, 'queue full: 429')
      break // the SDK aborts the request
    }
  }
  const [record] = await eventually(
    async () => completions,
    (list) => list.length === 1
  )
  t.is(record.trailer.stopReason, 'cancelled', 'the stream ended as cancelled')
  // Left alone, the daemon's stream would run to 4000 tokens (seconds); polled, it must vanish far before.
  let most = 0
  await eventually(
    () => client.status(),
    (status) => {
      for (const s of status.streams) most = Math.max(most, s.generatedTokens)
      return status.streams.length === 0
    }
  )
  t.ok(most < 3000, `no stream left on the daemon, stopped early (at most ${most} tokens seen)`)
  // 4000 tokens would hold the only sequence for seconds: taken again at once, it was cancelled.
  t.is((await openai.completions.create({ model: modelId, prompt: 'x', max_tokens: 4, temperature: 0 })).choices[0].finish_reason, 'length', 'the sequence is free again')
})

test('gateway errors: 401, 404, 400, 405, 504 in OpenAI error bodies', async (t) => {
  const { openai, gateway } = await gatewayOverSwarm(t, { model: { ctx: 4096 }, gateway: { apiKey: 'secret-key' }, apiKey: 'secret-key' })

  const wrongKey = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'wrong', maxRetries: 0 })
  const unauthorized = await wrongKey.models.list().catch((e) => e)
  t.is(unauthorized.status, 401)
  t.is(unauthorized.error?.code, 'invalid_api_key', 'OpenAI error body')
  const health = await fetch(`${gateway.url}/health`)
  t.is(health.status, 200, '/health needs no key')

  const unknown = await openai.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e)
  t.is(unknown.status, 404)
  t.is(unknown.error?.code, 'model_not_found')
  const two = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], n: 2 }).catch((e) => e)
  t.is(two.status, 400)
  t.is(two.error?.param, 'n')
  t.is(await statusOf(openai.chat.completions.create({ model: 'tiny', messages: [] })), 400, 'no messages')
  t.is(await statusOf(openai.completions.create({ model: 'tiny', prompt: 'x', temperature: 5 })), 400, 'temperature out of range')
  const badSchema = await openai.chat.completions
    .create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { oneOf: 5 } as unknown as Record<string, unknown> } }
    })
    .catch((e) => e)
  t.is(badSchema.status, 400, 'a schema the backend cannot compile')

  const raw = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer secret-key' }, body: '{not json' })
  t.is(raw.status, 400)
  t.is((await raw.json()).error.type, 'invalid_request_error')
  t.is((await fetch(`${gateway.url}/v1/embeddings`, { headers: { authorization: 'Bearer secret-key' } })).status, 405)
  const models = await fetch(`${gateway.url}/v1/models/tiny`, { headers: { authorization: 'Bearer secret-key' } })
  t.is((await models.json()).id, 'tiny', 'GET /v1/models/ID')
  t.is((await fetch(`${gateway.url}/v1/models/%E0%A4%A`, { headers: { authorization: 'Bearer secret-key' } })).status, 400, 'a malformed URL')
  const huge = await fetch(`${gateway.url}/v1/completions`, { method: 'POST', headers: { authorization: 'Bearer secret-key' }, body: 'x'.repeat(17 * 1024 * 1024) })
  t.is(huge.status, 413, 'a body over 16 MiB')

  const slow = await openai.completions
    .create({ model: 'tiny', prompt: 'x', max_tokens: 3500, temperature: 0 }, { headers: { 'qvacd-timeout-ms': '200' } })
    .catch((e) => e)
  t.is(slow.status, 504, 'past the deadline: 504')
  t.is(slow.error?.code, 'timeout')

  t.exception(() => new Gateway({ client: gateway['client'], host: '0.0.0.0' }), /API key/, 'beyond loopback only with a key')
})

test('no daemon reachable: 503', async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const daemon = await startDaemon(t, testnet, { storage })
  const client = await connectLocal({ storage })
  t.teardown(() => client.close())
  const gateway = await startGateway(t, { client })
  const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  t.ok((await openai.models.list()).data, 'served while the daemon runs')
  const metrics = await fetch(`${gateway.url}/metrics`)
  t.is(metrics.status, 200)
  t.ok((await metrics.text()).trimEnd().endsWith('# EOF'), "the daemon's OpenMetrics")

  await daemon.close()
  const gone = await openai.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e)
  t.is(gone.status, 503)
  t.is(gone.error?.code, 'daemon_unavailable')
  t.is((await fetch(`${gateway.url}/health`)).status, 503, '/health says so too')
})

test('qvacd gateway as its own process: the local daemon, a --model name, curl-style SSE; no key beyond loopback', async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const model = await tinyModel(t)
  await startDaemon(t, testnet, { storage })
  const bin = path.join(import.meta.dirname, '..', 'bin', 'qvacd.ts')
  const child = spawn(process.execPath, ['--import', 'tsx', bin, 'gateway', '--storage', storage, '--port', '0', '--model', `tiny=${model.path}`, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit')
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
  })
  const [line] = (await once(readline.createInterface({ input: child.stdout! }), 'line')) as [string]
  const info = JSON.parse(line) as { url: string; models: string[] }
  t.alike(info.models, ['tiny'])
  const res = await fetch(`${info.url}/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', prompt: 'Hello', max_tokens: 4, temperature: 0, stream: true })
  })
  t.is(res.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  const body = await res.text()
  t.ok(body.trimEnd().endsWith('data: [DONE]'), 'SSE, [DONE] at the end')
  t.ok(body.includes(': server-timing: ttft;dur='), 'the timings as a final comment')

  const refused = await runQvacd(['gateway', '--storage', storage, '--host', '0.0.0.0', '--port', '0'])
  t.is(refused.code, 2)
  t.ok(refused.stderr.includes('API key'), refused.stderr.trim())
})

test('the gateway bench scenario runs end to end: client library, gateway child and in-process gateway on one daemon', async (t) => {
  await emptyBenchCache(t)
  const report = await benchmark({
    scenarios: ['gateway'],
    mode: 'quick',
    settings: { streams: { tiny: 2, large: 1 }, maxTokens: { tiny: 8, large: 4 }, models: ['tiny'] }
  })
  const sides = new Set(report.phases.filter((p) => p.scenario === 'gateway').map((p) => p.side))
  t.alike([...sides], ['qvacd client', 'qvacd gateway', 'gateway in-process'])
  const tokens = report.phases.find((p) => p.side === 'qvacd gateway' && p.metric === 'tokens/s')
  t.is(tokens?.summary.n, 2, 'the fixed count of streams')
  t.ok(report.ratios.some((r) => r.name.startsWith('gateway tok/s ÷ client library') && Number.isFinite(r.value)))
  t.ok(report.unavailable.every((u) => u.what.startsWith('llama-server')), 'only llama-server may be missing (not built in a fresh cache)')
})

test('request mapping: OpenAI fields to infer and embed inputs, and what is refused', (t) => {
  const chat = mapChatCompletion({
    model: 'm',
    messages: [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Hel' }, { type: 'text', text: 'lo' }] },
      { role: 'assistant', content: 'Hi' }
    ],
    max_tokens: 5,
    max_completion_tokens: 7,
    top_p: 0,
    seed: -1,
    stop: 'END',
    stream: true,
    stream_options: { include_usage: true },
    response_format: { type: 'json_object' },
    frequency_penalty: 0.5
  })
  t.alike(chat.infer.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hello' },
    { role: 'assistant', content: 'Hi' }
  ])
  t.is(chat.infer.maxTokens, 7, 'max_completion_tokens wins')
  t.is(chat.infer.temperature, 0, 'top_p 0 is greedy')
  t.is(chat.infer.seed, 0xffffffff, 'a negative seed wraps to 32 bits')
  t.alike(chat.infer.stop, ['END'])
  t.ok(chat.stream && chat.includeUsage)
  t.alike(JSON.parse(chat.infer.jsonSchema as string), { type: 'object', additionalProperties: true })
  const defaults = mapCompletion({ model: 'm', prompt: ['one prompt'] })
  t.is(defaults.infer.prompt, 'one prompt')
  t.is(defaults.infer.temperature, 1, "OpenAI's default temperature")
  t.is(mapEmbedding({ model: 'm', input: 'x' }).encoding, 'float')

  const refused: Array<[string, () => unknown]> = [
    ['n', () => mapCompletion({ model: 'm', prompt: 'x', n: 3 })],
    ['prompt', () => mapCompletion({ model: 'm', prompt: ['a', 'b'] })],
    ['messages[0].role', () => mapChatCompletion({ model: 'm', messages: [{ role: 'tool', content: 'x' }] })],
    ['messages[0].content', () => mapChatCompletion({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url' }] }] })],
    ['stop', () => mapCompletion({ model: 'm', prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] })],
    ['max_tokens', () => mapCompletion({ model: 'm', prompt: 'x', max_tokens: 0 })],
    ['response_format', () => mapCompletion({ model: 'm', prompt: 'x', response_format: { type: 'yaml' } })],
    ['model', () => mapCompletion({ prompt: 'x' })],
    ['input', () => mapEmbedding({ model: 'm', input: [[1, 2]] })]
  ]
  for (const [param, map] of refused) {
    const err = (() => {
      try {
        map()
      } catch (e) {
        return e
      }
    })()
    t.ok(err instanceof HttpError && err.status === 400 && err.param === param, `400 on ${param}`)
  }
})
