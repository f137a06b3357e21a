import test from 'brittle'
import path from 'node:path'
import { getLlama, LlamaLogLevel } from 'node-llama-cpp'
import { loopbackTestnet, startDaemon, connectClient } from './helpers/swarm.ts'
import { servingDaemon, tinyModel } from './helpers/model.ts'
import { ErrorCode } from '../client/index.ts'

test('embed: one unit vector per input, the backend embedding normalized, same input → same vector', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  await startDaemon(t, testnet, { modelsDir: path.dirname(model.path) })
  const client = await connectClient(t, testnet)
  const { modelId } = await client.loadModel({ source: model.path, modelType: 'embedding', config: { threads: 1 } })

  const result = await client.embed({ modelId, inputs: ['hello world', 'the model', 'hello world'] }, { profiling: true })
  t.is(result.vectors.length, 3)
  t.is(result.vectors[0].length, model.options.embd, 'embedding size of the model')
  t.alike(Array.from(result.vectors[0]), Array.from(result.vectors[2]), 'same input, same vector')
  t.unlike(Array.from(result.vectors[0]), Array.from(result.vectors[1]), 'another input, another vector')
  const norm = Math.hypot(...result.vectors[1])
  t.ok(Math.abs(norm - 1) < 1e-4, `unit length (${norm})`)
  t.ok(result.promptTokens.every((n) => n > 1), 'token counts per input')
  t.ok(result.embedTime > 0)

  const event = result.__profiling?.events.find((e) => e.op === 'embed')
  t.is(event?.kind, 'inference')
  t.is(event?.gauges.promptTokens, result.promptTokens.reduce((a, b) => a + b, 0))
  t.ok((event?.gauges.embedTime ?? 0) > 0)

  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error })
  t.teardown(() => llama.dispose())
  const local = await llama.loadModel({ modelPath: model.path, gpuLayers: 0 })
  const context = await local.createEmbeddingContext({ threads: 1, contextSize: 512 })
  const expected = (await context.getEmbeddingFor('the model')).vector
  const expectedNorm = Math.hypot(...expected)
  t.ok(
    expected.every((x, i) => Math.abs(x / expectedNorm - result.vectors[1][i]) < 1e-4),
    'the vector of in-process node-llama-cpp, normalized'
  )
})

test('embed: wrong model type, empty input and an unknown model are typed errors', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId, model } = await servingDaemon(t, testnet)
  const wrongType = await client.embed({ modelId, inputs: ['x'] }).catch((e) => e)
  t.is(wrongType.code, ErrorCode.INVALID_ARGUMENT, 'an LLM does not embed')
  const embedder = await client.loadModel({ source: model.path, modelType: 'embedding', config: { threads: 1 } })
  t.not(embedder.modelId, modelId, 'the embedding model is its own instance')
  const empty = await client.embed({ modelId: embedder.modelId, inputs: [''] }).catch((e) => e)
  t.is(empty.code, ErrorCode.INVALID_INFERENCE_PARAMS)
  const none = await client.embed({ modelId: embedder.modelId, inputs: [] }).catch((e) => e)
  t.is(none.code, ErrorCode.INVALID_INFERENCE_PARAMS)
  const unknown = await client.embed({ modelId: 'nope', inputs: ['x'] }).catch((e) => e)
  t.is(unknown.code, ErrorCode.MODEL_NOT_FOUND)
  const trailer = await client.infer({ modelId: embedder.modelId, prompt: 'x', maxTokens: 2 }).trailer
  t.is(trailer.error?.code, ErrorCode.INVALID_ARGUMENT, 'an embedding model does not generate')
  t.ok((await client.ping()).version, 'the daemon is still up')
})

test('embed and JSON-schema output through a delegating daemon: the provider does the work, its event comes back', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const provider = await startDaemon(t, testnet, { topic: 'provider', modelsDir: path.dirname(model.path) })
  await startDaemon(t, testnet, { topic: 'front', delegateTo: provider.publicKey })
  const client = await connectClient(t, testnet, { topic: 'front' })
  const direct = await connectClient(t, testnet, { topic: 'provider' })

  const embedder = await client.loadModel({ source: model.path, modelType: 'embedding', config: { threads: 1 } })
  const viaFront = await client.embed({ modelId: embedder.modelId, inputs: ['hello world'] }, { profiling: true })
  const providerId = embedder.modelId.split(':')[1]
  const fromProvider = await direct.embed({ modelId: providerId, inputs: ['hello world'] })
  t.alike(Array.from(viaFront.vectors[0]), Array.from(fromProvider.vectors[0]), 'the same vector through the front daemon')
  const event = viaFront.__profiling?.events.find((e) => e.op === 'embed' && e.kind === 'inference')
  t.is(event?.hop, 1, 'the embed event of the provider, one hop away')

  const llm = await client.loadModel({ source: model.path, config: { threads: 1 } })
  const schema = { type: 'object', properties: { ok: { type: 'boolean' } } }
  const text = await client.infer({ modelId: llm.modelId, prompt: 'x', jsonSchema: schema, maxTokens: 40, temperature: 0 }).text()
  t.is(typeof JSON.parse(text).ok, 'boolean', `the schema holds through delegation: ${text}`)
})

test('embed: a batch over --max-prompt-bytes is refused before tokenizing; an input longer than the context is PROMPT_TOO_LONG', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, model } = await servingDaemon(t, testnet, { daemon: { limits: { maxPromptBytes: 4096 } } })
  const embedder = await client.loadModel({ source: model.path, modelType: 'embedding', config: { threads: 1, contextSize: 64 } })

  const batch = await client.embed({ modelId: embedder.modelId, inputs: ['a'.repeat(3000), 'b'.repeat(2000)] }).catch((e) => e)
  t.is(batch.code, ErrorCode.PROMPT_TOO_LONG, 'the bound is on the whole batch, as on a prompt')
  t.is(batch.details?.maxPromptBytes, 4096)
  t.is(batch.details?.promptBytes, 5000)

  const long = await client.embed({ modelId: embedder.modelId, inputs: ['fits', 'hello world '.repeat(40)] }).catch((e) => e)
  t.is(long.code, ErrorCode.PROMPT_TOO_LONG)
  t.is(long.details?.input, 1, 'names the input')
  t.ok(long.details?.promptTokens >= 64, `${long.details?.promptTokens} tokens`)

  const ok = await client.embed({ modelId: embedder.modelId, inputs: ['hello world'] })
  t.is(ok.vectors.length, 1, 'a batch within both bounds still embeds')
})
