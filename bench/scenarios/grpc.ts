import path from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { defaultThreads } from '../../daemon/inference/backend.ts'
import { DEFAULT_FRAME_MS } from '../../daemon/stream/outbound-stream.ts'
import type { StreamChunk } from '../../shared/messages.ts'
import { firstLine, spawnChild, stopChild, TSX_ENTRY } from '../children.ts'
import { PROMPT, type BenchContext } from '../context.ts'
import { connectToChild, startDaemonChild, swarmStream } from '../daemon-child.ts'
import { interleave } from '../interleave.ts'
import { tokenStreamService, type GenerateRequest } from '../protocols.ts'
import type { ScenarioRecorder } from '../report.ts'
import { recordStreams } from '../stream-phases.ts'
import { StreamTimer, type StreamSample } from '../stream-sample.ts'

const PEER = path.join(import.meta.dirname, '..', 'grpc-peer.ts')
const TokenStreamClient = grpc.makeGenericClientConstructor(tokenStreamService, 'TokenStream')

/**
 * The same generation and chunking served by @grpc/grpc-js server-streaming on 127.0.0.1 and by a
 * `qvacd start` child over the swarm; each in its own process, same model and threads, interleaved.
 */
export async function grpcScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  const threads = defaultThreads()
  const name = 'tiny'
  const model = ctx.model(name)
  const maxTokens = ctx.settings.maxTokens[name]
  const iterations = ctx.settings.streams[name]
  rec.note(`${name} model, ${maxTokens} tokens, threads ${threads} on both sides; chunks: first token alone, then frames ${DEFAULT_FRAME_MS} ms apart, ≤ 32 tokens`)
  ctx.progress(`grpc: ${iterations} × ${maxTokens} tokens per side`)

  const child = spawnChild(process.execPath, [...TSX_ENTRY, PEER, model.path, String(threads)])
  const daemon = await startDaemonChild(ctx.bootstrap, { threads })
  try {
    const { port } = JSON.parse(await firstLine(child, 'grpc peer')) as { port: number }
    const grpcClient = new TokenStreamClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
    const client = await connectToChild(daemon, ctx.bootstrap)
    try {
      const { modelId } = await client.loadModel({ source: model.path, config: { threads } })
      const samples = await interleave(
        {
          'grpc-js': () => grpcStream(grpcClient, { prompt: PROMPT, maxTokens }),
          'qvacd swarm': () => swarmStream(client, modelId, PROMPT, maxTokens)
        },
        iterations
      )
      const g = recordStreams(rec, name, 'grpc-js', samples['grpc-js'])
      const q = recordStreams(rec, name, 'qvacd swarm', samples['qvacd swarm'])
      const gaps = (side: string) => samples[side].flatMap((s) => s.chunkGapMs)
      const gGap = rec.phase(name, 'grpc-js', 'chunk gap', 'ms', gaps('grpc-js'))
      const qGap = rec.phase(name, 'qvacd swarm', 'chunk gap', 'ms', gaps('qvacd swarm'))
      rec.ratio(name, 'qvacd ÷ gRPC TTFT (p50)', q.ttft.p50, g.ttft.p50, { op: '<=', target: 1 })
      rec.ratio(name, 'qvacd ÷ gRPC ITL (p50)', q.itl.p50, g.itl.p50, { op: '<=', target: 1 })
      rec.ratio(name, 'qvacd ÷ gRPC chunk gap (p50)', qGap.p50, gGap.p50)
      rec.ratio(name, 'qvacd ÷ gRPC tok/s (p50)', q.tokensPerSecond.p50, g.tokensPerSecond.p50)
    } finally {
      grpcClient.close()
      await client.close()
    }
  } finally {
    await stopChild(child)
    await daemon.stop()
  }
}

function grpcStream(client: grpc.Client, request: GenerateRequest): Promise<StreamSample> {
  const timer = new StreamTimer()
  const call = (client as unknown as { generate(r: GenerateRequest): grpc.ClientReadableStream<StreamChunk> }).generate(request)
  return new Promise((resolve, reject) => {
    call.on('data', (chunk: StreamChunk) => timer.chunk(chunk.tokens.length))
    call.on('end', () => resolve(timer.finish()))
    call.on('error', reject)
  })
}
