import test from 'brittle'
import fs from 'node:fs/promises'
import path from 'node:path'
import { getLlama, LlamaCompletion, LlamaLogLevel } from 'node-llama-cpp'
import { loopbackTestnet } from './helpers/swarm.ts'
import { servingDaemon } from './helpers/model.ts'
import { ErrorCode, type InferStream } from '../client/index.ts'

async function collect(stream: InferStream) {
  const tokens: number[] = []
  let text = ''
  let frames = 0
  for await (const chunk of stream) {
    tokens.push(...chunk.tokens)
    text += chunk.text
    frames++
  }
  return { tokens, text, frames, trailer: await stream.trailer }
}

test('greedy output over the swarm equals in-process node-llama-cpp, token for token', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId, model } = await servingDaemon(t, testnet)
  const prompt = 'The quick brown fox'

  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error })
  t.teardown(() => llama.dispose())
  const local = await llama.loadModel({ modelPath: model.path, gpuLayers: 0 })
  const context = await local.createContext({ threads: 1, contextSize: 512 })
  const completion = new LlamaCompletion({ contextSequence: context.getSequence() })
  const expected: number[] = []
  const expectedText = await completion.generateCompletion(prompt, {
    maxTokens: 48,
    temperature: 0,
    onToken: (tokens) => expected.push(...tokens)
  })

  const { tokens, text, trailer } = await collect(client.infer({ modelId, prompt, maxTokens: 48, temperature: 0 }))
  t.is(expected.length, 48)
  t.alike(tokens, expected, 'same tokens')
  t.is(text.trimStart(), expectedText.trimStart(), 'same text (llama.cpp keeps the first leading space)')
  t.is(trailer.stopReason, 'length')
  t.is(trailer.stats.generatedTokens, 48)
  t.is(trailer.stats.promptTokens, local.tokenize(prompt, false, 'trimLeadingSpace').length + 1, 'BOS and the prompt')
  t.ok(trailer.stats.timeToFirstToken > 0 && trailer.stats.tokensPerSecond > 0)
})

test('the same source loads once, is reference-counted and unloads', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId, model } = await servingDaemon(t, testnet, { config: { sequences: 2 } })

  const [a, b] = await Promise.all([
    client.loadModel({ source: model.path, config: { threads: 1, sequences: 2 } }),
    client.loadModel({ source: `file://${model.path}`, config: { threads: 1, sequences: 2 } })
  ])
  t.is(a.modelId, modelId, 'same model')
  t.is(b.modelId, modelId, 'file:// names the same file')
  t.is(a.info.architecture, 'llama')
  t.is(a.info.sizeBytes, model.size)
  t.is(a.stats.modelInitializationTime, 0, 'not initialized again')
  t.is(a.stats.sourceType, 'file')

  let status = await client.status()
  t.is(status.models.length, 1)
  t.is(status.models[0].references, 3)
  t.is(status.models[0].sequences, 2)

  t.is(await client.unloadModel(modelId), 2)
  t.is(await client.unloadModel(modelId), 1)
  t.is(await client.unloadModel(modelId), 0)
  status = await client.status()
  t.alike(status.models, [], 'freed')

  const err = await client.unloadModel(modelId).catch((e) => e)
  t.is(err.code, ErrorCode.MODEL_NOT_FOUND)
  const trailer = await client.infer({ modelId, prompt: 'x', maxTokens: 4 }).trailer
  t.is(trailer.stopReason, 'error')
  t.is(trailer.error?.code, ErrorCode.MODEL_NOT_FOUND)
})

test('a trailer arrives for eos, length and a stop sequence', async (t) => {
  const testnet = await loopbackTestnet(t)
  // This model answers any prompt with " the a an and of" and then EOS.
  const { client, modelId, model } = await servingDaemon(t, testnet, { model: { eos: 5 } })
  t.alike(model.eosChain, ['▁the', '▁a', '▁an', '▁and', '▁of'])

  const eos = await collect(client.infer({ modelId, prompt: 'Hello', maxTokens: 50, temperature: 0 }))
  t.is(eos.trailer.stopReason, 'eos')
  t.is(eos.text, ' the a an and of')
  t.is(eos.trailer.stats.generatedTokens, 5)
  t.is(eos.trailer.frames, eos.frames, 'every frame the daemon sent arrived')

  const length = await collect(client.infer({ modelId, prompt: 'Hello', maxTokens: 3, temperature: 0 }))
  t.is(length.trailer.stopReason, 'length')
  t.is(length.text, ' the a an')

  const stop = await collect(client.infer({ modelId, prompt: 'Hello', maxTokens: 50, temperature: 0, stop: [' and'] }))
  t.is(stop.trailer.stopReason, 'stop')
  t.is(stop.text, ' the a an', 'text before the stop sequence, none of it after')

  const held = await collect(client.infer({ modelId, prompt: 'Hello', maxTokens: 50, temperature: 0, stop: [' a xyz'] }))
  t.is(held.trailer.stopReason, 'eos')
  t.is(held.text, ' the a an and of', 'a partial match held back is released at the end')
})

test('chat messages go through the chat template', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet, { model: { eos: 5 } })
  const { text, trailer } = await collect(
    client.infer({
      modelId,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' }
      ],
      maxTokens: 20,
      temperature: 0
    })
  )
  t.is(trailer.stopReason, 'eos')
  t.is(text.trim(), 'the a an and of')
  t.ok(trailer.stats.promptTokens > 6, `the template adds its own tokens (${trailer.stats.promptTokens})`)
})

test('seeded sampling repeats itself', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  const run = (seed: number) => collect(client.infer({ modelId, prompt: 'Hello', maxTokens: 24, temperature: 1, seed }))
  const [a, b] = [await run(7), await run(7)]
  t.alike(a.tokens, b.tokens, 'same seed, same tokens')
  t.is(a.tokens.length, 24)
})

test('bad input gets typed errors and the daemon keeps serving', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId, model } = await servingDaemon(t, testnet, { daemon: { maxTokens: 100 } })
  const failure = async (input: Parameters<typeof client.infer>[0]) => (await client.infer(input).trailer).error?.name

  t.is(await failure({ modelId, prompt: 'x', maxTokens: 0 }), 'INVALID_INFERENCE_PARAMS', 'maxTokens 0')
  t.is(await failure({ modelId, prompt: 'x', maxTokens: 101 }), 'INVALID_INFERENCE_PARAMS', 'maxTokens over the limit')
  t.is(await failure({ modelId, prompt: 'x', messages: [{ role: 'user', content: 'y' }] }), 'INVALID_INFERENCE_PARAMS', 'prompt and messages')
  t.is(await failure({ modelId, prompt: 'x', topP: 0 }), 'INVALID_INFERENCE_PARAMS', 'topP 0')
  t.is(await failure({ modelId, prompt: 'word '.repeat(600), maxTokens: 10 }), 'PROMPT_TOO_LONG', 'prompt beyond the context')
  t.is(await failure({ modelId: 'nope', prompt: 'x', maxTokens: 4 }), 'MODEL_NOT_FOUND', 'unknown model')

  // Inside the daemon's models dir: what a remote peer may name at all.
  const dir = path.dirname(model.path)
  const notGguf = path.join(dir, 'notes.gguf')
  await fs.writeFile(notGguf, 'this is not a model')
  const loadError = async (source: string, modelType?: string) =>
    (await client.loadModel({ source, modelType }).catch((e) => e)).name
  t.is(await loadError(notGguf), 'INVALID_MODEL_FILE')
  t.is(await loadError(path.join(dir, 'missing.gguf')), 'MODEL_NOT_FOUND')
  t.is(await loadError(model.path, 'vision'), 'UNSUPPORTED_MODEL_TYPE')

  const ok = await client.infer({ modelId, prompt: 'Hello', maxTokens: 8, temperature: 0 }).trailer
  t.is(ok.stopReason, 'length', 'still serving')
  t.is((await client.status()).inFlight, 0)
})
