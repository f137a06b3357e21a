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
  t.alike(await take(decoder.evaluate(sequence, prompt.slice(-1), GREEDY), 16), expected, 'same tokens from the kept prefix')

  const running = t.exception(take(decoder.evaluate(sequence, [expected[0]], GREEDY), 1000), 'a disposed context ends generation with an error')
  await context.dispose()
  await running
  await t.exception(take(decoder.evaluate(sequence, prompt, GREEDY), 1), 'and refuses new steps')
})

test('batch decoder: greedy and seeded streams in the same rounds: greedy picks match the sampler chain, the same seed gives the same tokens', async (t) => {
  const { model } = await setup(t)
  const context = await model.createContext({ threads: 1, contextSize: 512, sequences: 3 })
  t.teardown(() => context.dispose())
  const decoder = new BatchDecoder(context)
  t.comment(decoder.picksGreedy ? 'greedy tokens picked by the addon after the decode (patched build)' : 'every stream samples (addon without our patch)')
  const [a, b, c] = [context.getSequence(), context.getSequence(), context.getSequence()]
  const seeded = { temperature: 1.5, topP: 1, topK: 0, seed: 42 }
  const alone = await take(decoder.evaluate(a, model.tokenize(PROMPTS[1]), seeded), 24)
  await a.clearHistory()
  const expected = await Promise.all([reference(model, PROMPTS[0], 24), reference(model, PROMPTS[2], 24)])
  const rounds = decoder.rounds
  const [greedy1, mixed, greedy2] = await Promise.all([
    take(decoder.evaluate(b, model.tokenize(PROMPTS[0]), GREEDY), 24),
    take(decoder.evaluate(a, model.tokenize(PROMPTS[1]), seeded), 24),
    take(decoder.evaluate(c, model.tokenize(PROMPTS[2]), GREEDY), 24)
  ])
  t.ok(decoder.rounds - rounds < 48, `${decoder.rounds - rounds} rounds for 3 × 24 tokens: the streams shared batches`)
  t.alike(mixed, alone, 'same seed, same tokens, beside greedy streams in its batches')
  t.alike(greedy1, expected[0], 'greedy stream 1: the sampler chain’s tokens')
  t.alike(greedy2, expected[1], 'greedy stream 2: the sampler chain’s tokens')
})

test('batch decoder: each round goes to llama.cpp in sequence-id order, whatever order the streams queued in', async (t) => {
  const { model } = await setup(t)
  const context = await model.createContext({ threads: 1, contextSize: 1024, sequences: 4 })
  t.teardown(() => context.dispose())
  const decoder = new BatchDecoder(context)
  // Observe (not replace) the addon's batch calls: which sequence each chunk of a round is for.
  const addon = (context as unknown as { _ctx: { addToBatch(id: number, ...rest: unknown[]): unknown; initBatch(n: number): void } })._ctx
  const rounds: number[][] = []
  const { addToBatch, initBatch } = addon
  // The addon's methods are read-only on its prototype: the observers are own properties of this object.
  const observe = (name: string, value: unknown) => Object.defineProperty(addon, name, { value, configurable: true })
  observe('initBatch', function (this: typeof addon, n: number) {
    rounds.push([])
    return initBatch.call(this, n)
  })
  observe('addToBatch', function (this: typeof addon, id: number, ...rest: unknown[]) {
    rounds[rounds.length - 1].push(id)
    return addToBatch.call(this, id, ...rest)
  })
  t.teardown(() => {
    delete (addon as Partial<typeof addon>).initBatch
    delete (addon as Partial<typeof addon>).addToBatch
  })
  const sequences = [context.getSequence(), context.getSequence(), context.getSequence(), context.getSequence()]
  // Streams start in the order 3, 1, 0, 2: the queue holds them so.
  const order = [3, 1, 0, 2]
  const got = await Promise.all(order.map((i) => take(decoder.evaluate(sequences[i], model.tokenize(PROMPTS[i]), GREEDY), 12)))
  const shared = rounds.filter((ids) => ids.length > 1)
  t.ok(shared.length >= 10, `${shared.length} rounds held more than one stream`)
  t.ok(
    rounds.every((ids) => ids.every((id, k) => k === 0 || ids[k - 1] < id)),
    'every round in increasing sequence-id order'
  )
  const expected = await Promise.all(order.map((i) => reference(model, PROMPTS[i], 12)))
  t.alike(got, expected, 'and every stream its own greedy tokens')
})

test('batch decoder: without the patch\'s greedy picks (the prebuilt addon), greedy streams sample and get the same tokens', async (t) => {
  const { model } = await setup(t)
  const context = await model.createContext({ threads: 1, contextSize: 512, sequences: 2 })
  t.teardown(() => context.dispose())
  const decoder = new BatchDecoder(context)
  // As on an addon without decodeBatchGreedy: every stream gets an addon sampler.
  Object.defineProperty(decoder, 'picksGreedy', { value: false })
  const expected = await Promise.all([reference(model, PROMPTS[0], 16), reference(model, PROMPTS[3], 16)])
  const got = await Promise.all([
    take(decoder.evaluate(context.getSequence(), model.tokenize(PROMPTS[0]), GREEDY), 16),
    take(decoder.evaluate(context.getSequence(), model.tokenize(PROMPTS[3]), GREEDY), 16)
  ])
  t.alike(got, expected, 'the sampler chain’s tokens, through addon samplers')
})
