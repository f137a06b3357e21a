import type { QvacClient } from '../../client/index.ts'
import { PROMPT, type BenchContext } from '../context.ts'
import { connectToChild, startDaemonChild, swarmStream } from '../daemon-child.ts'
import { InProcessModel } from '../in-process.ts'
import { interleave } from '../interleave.ts'
import type { BenchModelName } from '../models.ts'
import type { ScenarioRecorder } from '../report.ts'
import { recordStreams, type StreamSummary } from '../stream-phases.ts'

/** Tokens/s and TTFT for threads 1..cores, in-process and through a `qvacd start` child, interleaved. */
export async function threadsScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  const daemon = await startDaemonChild(ctx.bootstrap)
  try {
    const client = await connectToChild(daemon, ctx.bootstrap)
    try {
      for (const name of ctx.settings.threadModels) await sweep(ctx, rec, client, name)
    } finally {
      await client.close()
    }
  } finally {
    await daemon.stop()
  }
}

async function sweep(ctx: BenchContext, rec: ScenarioRecorder, client: QvacClient, name: BenchModelName): Promise<void> {
  const model = ctx.model(name)
  const maxTokens = ctx.settings.maxTokens[name]
  const byThreads = new Map<number, { local: StreamSummary; swarm: StreamSummary }>()
  for (let threads = 1; threads <= ctx.cores; threads++) {
    ctx.progress(`threads: ${name} model, threads ${threads}, ${ctx.settings.streams[name]} × ${maxTokens} tokens per side`)
    const local = await InProcessModel.load(ctx.llama, model.path, threads)
    const { modelId } = await client.loadModel({ source: model.path, config: { threads } })
    try {
      const samples = await interleave(
        {
          'in-process': () => local.stream(PROMPT, maxTokens),
          'qvacd swarm': () => swarmStream(client, modelId, PROMPT, maxTokens)
        },
        ctx.settings.streams[name]
      )
      const variant = `${name} t=${threads}`
      byThreads.set(threads, {
        local: recordStreams(rec, variant, 'in-process', samples['in-process']),
        swarm: recordStreams(rec, variant, 'qvacd swarm', samples['qvacd swarm'])
      })
    } finally {
      await client.unloadModel(modelId)
      await local.dispose()
    }
  }
  const all = byThreads.get(ctx.cores)
  const spare = byThreads.get(Math.max(1, ctx.cores - 1))
  if (all && spare && ctx.cores > 1) {
    rec.ratio(name, `in-process tok/s, ${ctx.cores} ÷ ${ctx.cores - 1} threads`, all.local.tokensPerSecond.p50, spare.local.tokensPerSecond.p50)
    rec.ratio(name, `swarm tok/s, ${ctx.cores} ÷ ${ctx.cores - 1} threads`, all.swarm.tokensPerSecond.p50, spare.swarm.tokensPerSecond.p50)
  }
  const bestOf = (side: 'local' | 'swarm') =>
    [...byThreads.entries()].reduce((a, b) => (b[1][side].tokensPerSecond.p50 > a[1][side].tokensPerSecond.p50 ? b : a))[0]
  rec.note(`${name}: best tok/s at ${bestOf('local')} thread(s) in-process, ${bestOf('swarm')} through the daemon`)
}
