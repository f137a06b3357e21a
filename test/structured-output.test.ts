import test from 'brittle'
import { loopbackTestnet } from './helpers/swarm.ts'
import { servingDaemon } from './helpers/model.ts'
import { PERSON_SCHEMA, personProblems } from './helpers/json-schema.ts'
import { ErrorCode } from '../client/index.ts'
import { MAX_GRAMMAR_BYTES } from '../daemon/inference/grammar.ts'

test('infer with a JSON schema: the random-weights model writes JSON that parses and matches the schema', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  for (const seed of [1, 2, 3]) {
    const stream = client.infer({ modelId, prompt: 'A person:', jsonSchema: PERSON_SCHEMA, maxTokens: 200, temperature: 0.9, seed })
    const text = await stream.text()
    const trailer = await stream.trailer
    t.is(trailer.stopReason, 'stop', `seed ${seed}: ends where the document of the grammar ends`)
    let value: unknown
    t.execution(() => (value = JSON.parse(text)), `seed ${seed}: parses: ${text}`)
    t.alike(personProblems(value), [], `seed ${seed}: matches the schema`)
  }
})

test('infer with a GBNF grammar: only sentences of the grammar come out', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  const grammar = 'root ::= ("yes" | "no") " " [0-9] [0-9]'
  const text = await client.infer({ modelId, prompt: 'Answer:', grammar, maxTokens: 20, temperature: 0.8, seed: 7 }).text()
  t.ok(/^(yes|no) [0-9]{2}$/.test(text), `matches the grammar: ${JSON.stringify(text)}`)
})

test('a schema or grammar the backend cannot compile is INVALID_ARGUMENT, and the daemon stays up', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  const cases = [
    { jsonSchema: '{not json' },
    { jsonSchema: '42' },
    { jsonSchema: { oneOf: 5 } },
    { grammar: 'root ::= undefined-rule' },
    { grammar: 'root ::= "a"', jsonSchema: {} }
  ]
  for (const input of cases) {
    const trailer = await client.infer({ modelId, prompt: 'x', maxTokens: 4, ...input }).trailer
    t.is(trailer.error?.code, ErrorCode.INVALID_ARGUMENT, `${JSON.stringify(input)}: ${trailer.error?.message}`)
  }
  // Over the size bound (valid otherwise): refused before it is parsed or compiled.
  const oversized = [
    { jsonSchema: { type: 'object', description: 'x'.repeat(MAX_GRAMMAR_BYTES) } },
    { grammar: `root ::= "a"\n${'# x\n'.repeat(MAX_GRAMMAR_BYTES / 4)}` }
  ]
  for (const input of oversized) {
    const trailer = await client.infer({ modelId, prompt: 'x', maxTokens: 4, ...input }).trailer
    t.is(trailer.error?.code, ErrorCode.INVALID_ARGUMENT)
    t.ok(/takes at most 65536/.test(trailer.error?.message ?? ''), trailer.error?.message)
  }
  t.is((await client.infer({ modelId, prompt: 'x', maxTokens: 4, temperature: 0 }).trailer).stopReason, 'length', 'still serving')
})
