// Child process of the grpc scenario: the daemon's generation (same tokenization, prefix reuse,
// greedy, text per token) served by @grpc/grpc-js server-streaming on 127.0.0.1, chunked by the
// daemon's rule (OutboundStream): the first token alone, then a token DEFAULT_FRAME_MS or more after the
// last frame leaves at once with what waited, none waits longer, at most 32 tokens a frame; generation
// waits when the HTTP/2 stream pushes back.
import { once } from 'node:events'
import * as grpc from '@grpc/grpc-js'
import { getLlama, LlamaLogLevel } from 'node-llama-cpp'
import { completionPrompt } from '../daemon/inference/prompt.ts'
import { TokenText } from '../daemon/inference/token-text.ts'
import { DEFAULT_FRAME_MS } from '../daemon/stream/outbound-stream.ts'
import type { StreamChunk } from '../shared/messages.ts'
import { tokenStreamService, type GenerateRequest } from './protocols.ts'

const MAX_FRAME_TOKENS = 32

const [modelPath, threadsArg] = process.argv.slice(2)
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error })
const model = await llama.loadModel({ modelPath, gpuLayers: 0 })
const context = await model.createContext({ contextSize: Math.min(model.trainContextSize, 4096), sequences: 1, threads: Number(threadsArg) })
const sequence = context.getSequence()

async function generate(call: grpc.ServerWritableStream<GenerateRequest, StreamChunk>): Promise<void> {
  const { prompt, maxTokens } = call.request
  const prepared = await completionPrompt(model, prompt)
  const input = prepared.tokens.slice(0, -1)
  await sequence.adaptStateToTokens(input, false)
  const pending = [...input.slice(sequence.nextTokenIndex), ...prepared.tokens.slice(-1)]
  const text = new TokenText(model, prepared.tokens)

  let frame: StreamChunk = { streamId: 1, seq: 0, text: '', tokens: [] }
  let timer: NodeJS.Timeout | null = null
  let writable = true
  let lastFlushAt = 0
  const flush = () => {
    if (timer) clearTimeout(timer)
    timer = null
    if (frame.tokens.length === 0 && frame.text.length === 0) return
    lastFlushAt = performance.now()
    writable = call.write(frame)
    frame = { streamId: 1, seq: frame.seq + 1, text: '', tokens: [] }
  }

  let generated = 0
  for await (const token of sequence.evaluate(pending, { temperature: 0, topP: 0.95, topK: 40 })) {
    frame.text += text.push(token)
    frame.tokens.push(token)
    if (frame.seq === 0 || frame.tokens.length >= MAX_FRAME_TOKENS || performance.now() - lastFlushAt >= DEFAULT_FRAME_MS) flush()
    else timer ??= setTimeout(flush, DEFAULT_FRAME_MS)
    if (!writable) {
      await once(call, 'drain')
      writable = true
    }
    if (++generated >= maxTokens) break
  }
  frame.text += text.flush()
  flush()
  call.end()
}

const server = new grpc.Server()
server.addService(tokenStreamService, {
  generate: (call: grpc.ServerWritableStream<GenerateRequest, StreamChunk>) => {
    generate(call).catch((err) => call.destroy(err))
  }
})
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)))
)
process.stdout.write(JSON.stringify({ port }) + '\n')

process.once('SIGTERM', () => {
  server.forceShutdown()
  void context.dispose().then(() => model.dispose()).then(() => llama.dispose()).then(() => process.exit(0))
})
