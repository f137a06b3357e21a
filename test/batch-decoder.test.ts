import test, { type Assertion } from 'brittle'
import { getLlama, LlamaLogLevel, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp'
import { BatchDecoder } from '../daemon/inference/batch-decoder.ts'
import { tinyModel } from './helpers/model.ts'

const GREEDY = { temperature: 0, topP: 0.95, topK: 40, seed: 1 }
const PROMPTS = ['The quick brown fox', 'Once upon a time', 'In the beginning there was', 'A B C D E F G']

async function take(tokens: AsyncIterable<Token>, n: number): Promise<Token[]> {
  const out: Token[] = []
  for await (const token of tokens) if (out.push(token) >= n) break
  return out
}

async function setup(t: Assertion) {
  const { path } = await tinyModel(t, { eos: 'suppress' })
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error })
  t.teardown(() => llama.dispose())
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 })
  return { llama, model }
}

/**
 * node-llama-cpp's own greedy tokens for `prompt` on a fresh context, through llama.cpp's whole
 * sampler chain: asking for probabilities keeps the addon off its plain-greedy shortcut (our patch),
 * so the decoder's tokens, which take the shortcut, are checked against the chain.
 */
async function reference(model: LlamaModel, prompt: string, n: number): Promise<Token[]> {
  const context = await model.createContext({ threads: 1, contextSize: 256 })
  try {
    const out: Token[] = []
    for await (const { token } of context.getSequence().evaluateWithMetadata(model.tokenize(prompt), { probabilities: true }, GREEDY)) {
      if (out.push(token) >= n) break
    }
    return out
  } finally {
    await context.dispose()
  }
}

test('batch decoder: concurrent sequences share batches and each gets node-llama-cpp\'s own greedy tokens', async (t) => {
  const { model } = await setup(t)
  const expected = await Promise.all(PROMPTS.map((p) => reference(model, p, 32)))

  const context = await model.createContext({ threads: 1, contextSize: 1024, sequences: PROMPTS.length })
  t.teardown(() => context.dispose())
  const decoder = new BatchDecoder(context)
  const sequences = PROMPTS.map(() => context.getSequence())
  const got = await Promise.all(PROMPTS.map((p, i) => take(decoder.evaluate(sequences[i], model.tokenize(p), GREEDY), 32)))
  for (let i = 0; i < PROMPTS.length; i++) t.alike(got[i], expected[i], `"${PROMPTS[i]}": same tokens`)
  t.ok(decoder.rounds < (PROMPTS.length * 32) / 2, `${decoder.rounds} rounds for ${PROMPTS.length} × 32 tokens: batches were shared`)
  t.alike(sequences[0].contextTokens, [...model.tokenize(PROMPTS[0]), ...got[0].slice(0, -1)], 'the sequence records what it evaluated')
})

test('batch decoder: a prompt longer than the batch, prefix reuse after it, and a disposed context', async (t) => {
  const { model } = await setup(t)
  const long = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen'
  const prompt = model.tokenize(long)
  const expected = await reference(model, long, 16)

  const context = await model.createContext({ threads: 1, contextSize: 256, batchSize: 8 })
  const decoder = new BatchDecoder(context)
  const sequence: LlamaContextSequence = context.getSequence()
  t.ok(prompt.length > 2 * context.batchSize, `${prompt.length} prompt tokens over batches of ${context.batchSize}`)
  t.alike(await take(decoder.evaluate(sequence, prompt, GREEDY), 16), expected, 'same tokens, the prompt split over rounds')

  // The daemon's prefix reuse: keep all but the last prompt token, evaluate only that one.
  await sequence.adaptStateToTokens(prompt.slice(0, -1), false)
  t.is(sequence.nextTokenIndex, prompt.length - 1, 'the prefix kept')
  t.is(decoder.pooledSamplers, 1, 'the greedy stream left its sampler for the next')
  t.alike(await take(decoder.evaluate(sequence, prompt.slice(-1), GREEDY), 16), expected, 'same tokens from the kept prefix, on the reused sampler')
  t.is(decoder.pooledSamplers, 1, 'reused, not one more')

  const running = t.exception(take(decoder.evaluate(sequence, [expected[0]], GREEDY), 1000), 'a disposed context ends generation with an error')
  await context.dispose()
  await running
  t.is(decoder.pooledSamplers, 0, 'a disposed context frees the pooled samplers')
  await t.exception(take(decoder.evaluate(sequence, prompt, GREEDY), 1), 'and refuses new steps')
})

test('batch decoder: a seeded stream never takes a greedy stream\'s sampler, so the same seed gives the same tokens', async (t) => {
  const { model } = await setup(t)
  const context = await model.createContext({ threads: 1, contextSize: 512, sequences: 2 })
  t.teardown(() => context.dispose())
  const decoder = new BatchDecoder(context)
  const sequence = context.getSequence()
  const prompt = model.tokenize(PROMPTS[1])
  const seeded = { temperature: 1.5, topP: 1, topK: 0, seed: 42 }
  const fresh = async () => {
    await sequence.clearHistory()
    return take(decoder.evaluate(sequence, prompt, seeded), 24)
  }
  const first = await fresh()
  t.is(decoder.pooledSamplers, 0, 'a sampling stream’s sampler is not kept')
  await sequence.clearHistory()
  await take(decoder.evaluate(sequence, prompt, GREEDY), 8)
  t.is(decoder.pooledSamplers, 1)
  t.alike(await fresh(), first, 'same seed, same tokens, after a greedy stream')
  t.is(decoder.pooledSamplers, 1, 'the pooled greedy sampler stayed for greedy streams')
  t.alike(await fresh(), first)
})
