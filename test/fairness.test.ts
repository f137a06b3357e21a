import test from 'brittle'
import { loopbackTestnet } from './helpers/swarm.ts'
import { servingDaemon } from './helpers/model.ts'
import type { InferStream } from '../client/index.ts'

const PROMPT = 'Hello'
const LONG = 400

/** Reads a stream to its end, calling `onChunk` with the running token count. */
async function drain(stream: InferStream, onChunk: (received: number) => void = () => {}): Promise<number[]> {
  const tokens: number[] = []
  for await (const chunk of stream) {
    tokens.push(...chunk.tokens)
    onChunk(tokens.length)
  }
  return tokens
}

test('a stream that reuses a sequence starts while 4 others keep generating, and every stream gets the same tokens', { timeout: 120_000 }, async (t) => {
  const testnet = await loopbackTestnet(t)
  // One client runs all 8 streams: let this peer run them at once (the per-peer default is 4).
  const { client, modelId } = await servingDaemon(t, testnet, { config: { sequences: 8 }, daemon: { peerLimits: { maxStreams: 8 } } })
  const infer = (maxTokens: number) => client.infer({ modelId, prompt: PROMPT, maxTokens, temperature: 0 })

  // Round 1 leaves a generated tail in all 8 sequences: every later stream must erase it first.
  const round1 = await Promise.all(Array.from({ length: 8 }, () => drain(infer(LONG))))
  const expected = round1[0]
  t.is(expected.length, LONG)
  t.ok(round1.every((tokens) => tokens.join() === expected.join()), 'round 1: 8 concurrent streams, same greedy tokens')

  // Round 2: 4 long streams run; once all of them are generating, 4 more start on used sequences.
  const received = [0, 0, 0, 0]
  let started!: () => void
  const allGenerating = new Promise<void>((resolve) => (started = resolve))
  const early = received.map((_, i) =>
    drain(infer(LONG), (n) => {
      received[i] = n
      if (received.every((r) => r >= 8)) started()
    })
  )
  await allGenerating
  const seenByLate: number[][] = []
  const late = Array.from({ length: 4 }, async () => {
    const stream = infer(LONG)
    let snapshot: number[] | null = null
    const tokens = await drain(stream, () => (snapshot ??= [...received]))
    seenByLate.push(snapshot ?? [])
    return tokens
  })
  const all = await Promise.all([...early, ...late])

  t.ok(all.every((tokens) => tokens.join() === expected.join()), 'round 2: all 8 streams complete with the same tokens')
  for (const snapshot of seenByLate) {
    t.ok(snapshot.every((n) => n < LONG), `a late stream's first token came while the early ones were still generating (they had ${snapshot.join(', ')} of ${LONG})`)
  }
  const status = await client.status()
  t.is(status.models[0].activeStreams, 0, 'every sequence released')
})
