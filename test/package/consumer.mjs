// A plain Node consumer of the installed package (no tsx): connect by topic, load, stream.
// Usage: node consumer.mjs TOPIC BOOTSTRAP MODEL (a file in the daemon's --models-dir)
import assert from 'node:assert/strict'
import { connect, QvacError } from 'qvacd'

const [topic, bootstrap, modelPath] = process.argv.slice(2)
assert.ok(topic && bootstrap && modelPath, 'usage: node consumer.mjs TOPIC BOOTSTRAP MODEL')

const client = await connect({ topic, bootstrap, connectTimeout: 30_000 })
try {
  const { version } = await client.ping()
  const { modelId } = await client.loadModel({ source: modelPath, config: { threads: 1 } })
  const stream = client.infer({ modelId, prompt: 'hello', maxTokens: 16, temperature: 0 })
  let tokens = 0
  for await (const chunk of stream) tokens += chunk.tokens.length
  const trailer = await stream.trailer
  assert.ok(tokens > 0, 'no tokens arrived')
  assert.equal(trailer.stats.generatedTokens, tokens)
  assert.ok(new QvacError('INVALID_ARGUMENT', 'x') instanceof Error)
  console.log(`consumer.mjs: daemon ${version}, ${tokens} tokens, stop ${trailer.stopReason}`)
} finally {
  await client.close()
}
