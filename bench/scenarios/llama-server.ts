import type { QvacClient } from '../../client/index.ts'
import { PROMPT, type BenchContext } from '../context.ts'
import { connectToChild, startDaemonChild, swarmStream } from '../daemon-child.ts'
import { interleave } from '../interleave.ts'
import { llamaServerPeer, llamaServerStream, startLlamaServer } from '../llama-server.ts'
import type { BenchModelName } from '../models.ts'
import type { ScenarioRecorder } from '../report.ts'
import { recordStreams, type StreamSummary } from '../stream-phases.ts'

/**
 * llama.cpp's own server (built from the source node-llama-cpp ships) vs a `qvacd start` child:
 * same GGUF, prompt, greedy settings, context size and threads; SSE on 127.0.0.1 vs the swarm.
 * Both modes sweep threads 1..cores and compare each side at its best.
 */
export async function llamaServerScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  const bin = await llamaServerPeer(ctx, rec)
  if (!bin) return
  // Both modes sweep every thread count: "each at its best" needs all of them (quick runs fewer streams).
  const threadCounts = Array.from({ length: ctx.cores }, (_, i) => i + 1)
  const daemon = await startDaemonChild(ctx.bootstrap)
  try {
    const client = await connectToChild(daemon, ctx.bootstrap)
    try {
      for (const name of ctx.settings.models) await compareModel(ctx, rec, client, bin, name, threadCounts)
    } finally {
      await client.close()
    }
  } finally {
    await daemon.stop()
  }
}

async function compareModel(ctx: BenchContext, rec: ScenarioRecorder, client: QvacClient, bin: string, name: BenchModelName, threadCounts: number[]): Promise<void> {
  const model = ctx.model(name)
  const maxTokens = ctx.settings.maxTokens[name]
  const results: Array<{ threads: number; server: StreamSummary; qvacd: StreamSummary }> = []
  for (const threads of threadCounts) {
    ctx.progress(`llama-server: ${name} model, threads ${threads}, ${ctx.settings.streams[name]} × ${maxTokens} tokens per side`)
    const { modelId, info } = await client.loadModel({ source: model.path, config: { threads } })
    const server = await startLlamaServer(bin, model.path, { threads, contextSize: info.contextSize })
    try {
      const samples = await interleave(
        {
          'llama-server': () => llamaServerStream(server.port, PROMPT, maxTokens),
          'qvacd swarm': () => swarmStream(client, modelId, PROMPT, maxTokens)
        },
        ctx.settings.streams[name]
      )
      const variant = `${name} t=${threads}`
      results.push({
        threads,
        server: recordStreams(rec, variant, 'llama-server', samples['llama-server']),
        qvacd: recordStreams(rec, variant, 'qvacd swarm', samples['qvacd swarm'])
      })
    } finally {
      await server.stop()
      await client.unloadModel(modelId)
    }
  }
  const best = (side: 'server' | 'qvacd', pick: (s: StreamSummary) => number, higher: boolean) =>
    results.reduce((a, b) => ((higher ? pick(b[side]) > pick(a[side]) : pick(b[side]) < pick(a[side])) ? b : a))
  const tps = (s: StreamSummary) => s.tokensPerSecond.p50
  const ttft = (s: StreamSummary) => s.ttft.p50
  const [qTps, sTps] = [best('qvacd', tps, true), best('server', tps, true)]
  const [qTtft, sTtft] = [best('qvacd', ttft, false), best('server', ttft, false)]
  // Names stay the same run to run so --compare matches them; which thread counts won is a note.
  rec.ratio(name, 'qvacd ÷ llama-server tok/s, each at its best threads', tps(qTps.qvacd), tps(sTps.server), { op: '>=', target: 1 })
  rec.ratio(name, 'qvacd ÷ llama-server TTFT, each at its best threads', ttft(qTtft.qvacd), ttft(sTtft.server), { op: '<=', target: 1 })
  rec.ratio(name, 'qvacd ÷ llama-server ITL (p50), each at its best tok/s threads', qTps.qvacd.itl.p50, sTps.server.itl.p50)
  rec.note(`${name}: best tok/s at ${qTps.threads} thread(s) for qvacd, ${sTps.threads} for llama-server; best TTFT at ${qTtft.threads} and ${sTtft.threads}`)
}
