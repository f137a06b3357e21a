// A client in its own process that sends one infer with a prompt of N bytes and prints the
// trailer's error code (or "ok"), so the daemon's event loop is measured without the client's work.
// Usage: node --import tsx test/helpers/prompt-client.ts BOOTSTRAP TOPIC MODEL_ID BYTES
import { connect } from '../../client/index.ts'

const [bootstrap, topic, modelId, bytes] = process.argv.slice(2)
const words = 'the quick brown fox jumps over the lazy dog '
const prompt = words.repeat(Math.ceil(Number(bytes) / words.length)).slice(0, Number(bytes))
const client = await connect({ topic, bootstrap })
process.stdout.write('connected\n')
const trailer = await client.infer({ modelId, prompt, maxTokens: 4 }).trailer
process.stdout.write(`${trailer.error?.name ?? 'ok'}\n`)
await client.close()
