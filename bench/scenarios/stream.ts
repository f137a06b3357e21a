import type { QvacClient } from '../../client/index.ts'
import { defaultThreads } from '../../daemon/inference/backend.ts'
import { PROMPT, type BenchContext } from '../context.ts'
import { connectToChild, startDaemonChild, swarmStream } from '../daemon-child.ts'
import { InProcessModel } from '../in-process.ts'
import type { BenchModelName } from '../models.ts'
import type { ScenarioRecorder } from '../report.ts'
import type { StreamSample } from '../stream-sample.ts'
import { recordStreams } from '../stream-phases.ts'
import { interleave } from '../interleave.ts'

/**
 * The same greedy stream from node-llama-cpp in this process and from a `qvacd start` child over
 * the swarm: same model file, prompt, maxTokens and threads, runs interleaved. A third side runs
 * the daemon's own decoder in this process, meant to leave the swarm as the only difference (on
 * the tiny model it does not yet: BENCHMARKS.md).
 */
export async function streamScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  const threads = defaultThreads()
  rec.note(`threads ${threads} on both sides (the daemon's default on this machine)`)
  const daemon = await startDaemonChild(ctx.bootstrap, { threads })
  try {
    const client = await connectToChild(daemon, ctx.bootstrap)
    try {
      for (const name of ctx.settings.models) await compare(ctx, rec, client, name, threads)
    } finally {
      await client.close()
    }
  } finally {
    await daemon.stop()
  }
}

async function compare(ctx: BenchContext, rec: ScenarioRecorder, client: QvacClient, name: BenchModelName, threads: number): Promise<void> {
  const model = ctx.model(name)
  const maxTokens = ctx.settings.maxTokens[name]
  const iterations = ctx.settings.streams[name]
  ctx.progress(`stream: ${name} model, ${iterations} × ${maxTokens} tokens per side`)
  const local = await InProcessModel.load(ctx.llama, model.path, threads)
  const localDecoder = await InProcessModel.load(ctx.llama, model.path, threads, { decoder: true })
  const { modelId } = await client.loadModel({ source: model.path, config: { threads } })
  try {
    const sides: Record<string, () => Promise<StreamSample>> = {
      'in-process': () => local.stream(PROMPT, maxTokens),
      'in-process, qvacd decoder': () => localDecoder.stream(PROMPT, maxTokens),
      'qvacd swarm': () => swarmStream(client, modelId, PROMPT, maxTokens)
    }
    const samples = await interleave(sides, iterations)
    const [inProc, swarm] = [recordStreams(rec, name, 'in-process', samples['in-process']), recordStreams(rec, name, 'qvacd swarm', samples['qvacd swarm'])]
    rec.ratio(name, 'swarm tok/s ÷ in-process (p50)', swarm.tokensPerSecond.p50, inProc.tokensPerSecond.p50, { op: '>=', target: 0.97 })
    rec.value(name, 'swarm TTFT − in-process, ms (p50)', swarm.ttft.p50 - inProc.ttft.p50, { op: '<=', target: 2 })
    rec.ratio(name, 'swarm ITL ÷ in-process (p50)', swarm.itl.p50, inProc.itl.p50)
    const inProcDecoder = recordStreams(rec, name, 'in-process, qvacd decoder', samples['in-process, qvacd decoder'])
    rec.ratio(name, 'swarm tok/s ÷ in-process with the daemon\'s decoder (p50)', swarm.tokensPerSecond.p50, inProcDecoder.tokensPerSecond.p50)
  } finally {
    await client.unloadModel(modelId)
    await local.dispose()
    await localDecoder.dispose()
  }
}
