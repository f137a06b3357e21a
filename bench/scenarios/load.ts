import { connect, type QvacClient } from '../../client/index.ts'
import { createDht, parseBootstrap } from '../../client/dht.ts'
import { PROMPT, type BenchContext } from '../context.ts'
import { connectToChild, startDaemonChild, swarmStream } from '../daemon-child.ts'
import type { ScenarioRecorder } from '../report.ts'
import type { StreamSample } from '../stream-sample.ts'

/**
 * N clients (each its own connection and key pair) streaming at once from a `qvacd start` child
 * that holds one sequence per client. Per N: one warm-up round, then fixed rounds; TTFT and ITL
 * per stream, aggregate tokens/s per round (all tokens ÷ the round's wall time), failed streams.
 */
export async function loadScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  const name = 'tiny'
  const model = ctx.model(name)
  const maxTokens = ctx.settings.maxTokens[name]
  const most = Math.max(...ctx.settings.loadClients)
  rec.note(`${name} model, ${maxTokens} tokens per stream, the model loaded once with ${most} sequences (parallel slots)`)
  const daemon = await startDaemonChild(ctx.bootstrap)
  const dht = createDht({ bootstrap: parseBootstrap(ctx.bootstrap) })
  const clients: QvacClient[] = []
  try {
    const first = await connectToChild(daemon, ctx.bootstrap)
    clients.push(first)
    const { modelId } = await first.loadModel({ source: model.path, config: { sequences: most } })
    for (const n of ctx.settings.loadClients) {
      while (clients.length < n) clients.push(await connect({ peer: daemon.publicKey, dht }))
      ctx.progress(`load: ${n} concurrent client(s), ${ctx.settings.loadRounds} rounds`)
      const samples: StreamSample[] = []
      const rates: number[] = []
      let errors = 0
      for (let round = 0; round <= ctx.settings.loadRounds; round++) {
        const started = performance.now()
        const results = await Promise.allSettled(clients.slice(0, n).map((c) => swarmStream(c, modelId, PROMPT, maxTokens)))
        const wall = performance.now() - started
        if (round === 0) continue
        let tokens = 0
        for (const r of results) {
          if (r.status === 'fulfilled') {
            samples.push(r.value)
            tokens += r.value.tokens
          } else errors++
        }
        rates.push((tokens * 1000) / wall)
      }
      const variant = `n=${n}`
      const ttft = rec.phase(variant, 'qvacd swarm', 'TTFT', 'ms', samples.map((s) => s.ttftMs))
      rec.phase(variant, 'qvacd swarm', 'ITL', 'ms', samples.flatMap((s) => s.itlMs))
      rec.phase(variant, 'qvacd swarm', 'aggregate tokens/s', 'tok/s', rates)
      rec.phase(variant, 'qvacd swarm', 'errors', 'count', [errors])
      if (n === most) {
        rec.value(variant, 'failed streams', errors, { op: '<=', target: 0 })
        rec.ratio(variant, 'p99 TTFT ÷ p50 TTFT', ttft.p99, ttft.p50, { op: '<=', target: 4 })
      }
    }
  } finally {
    for (const c of clients) await c.close()
    await dht.destroy()
    await daemon.stop()
  }
}
