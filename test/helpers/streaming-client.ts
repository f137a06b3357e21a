// A client in its own process, to be SIGKILLed mid-stream: connects to the topic, starts a stream
// it never reads past the first frame, prints "streaming", then idles until killed.
// Usage: node --import tsx test/helpers/streaming-client.ts BOOTSTRAP TOPIC MODEL_ID
import { connect } from '../../client/index.ts'

const [bootstrap, topic, modelId] = process.argv.slice(2)
const client = await connect({ topic, bootstrap })
const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 400, temperature: 0 }, { window: 1 })
for await (const _chunk of stream) {
  process.stdout.write('streaming\n')
  await new Promise(() => {})
}
