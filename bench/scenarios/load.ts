import { setTimeout as sleep } from 'node:timers/promises'
import { connect, type QvacClient } from '../../client/index.ts'
import { createDht, parseBootstrap } from '../../client/dht.ts'
import { PROMPT, type BenchContext } from '../context.ts'
import { connectToChild, startDaemonChild, swarmStream } from '../daemon-child.ts'
import { llamaServerPeer, llamaServerStream, startLlamaServer, type LlamaServer } from '../llama-server.ts'
import type { BenchModelName } from '../models.ts'
import type { ScenarioRecorder } from '../report.ts'
import type { Summary } from '../stats.ts'
import type { StreamSample } from '../stream-sample.ts'
import { SETTLE_MS } from '../interleave.ts'

/**
 * N clients (each its own connection and key pair) streaming at once from a `qvacd start` child
 * that holds one sequence per client, against llama-server started with `-np N` (continuous
 * batching) and N concurrent SSE streams: same model, prompt, greedy settings, threads and context
 * per stream. Per N: one warm-up round per side, then fixed rounds, the sides alternating; TTFT and
 * ITL per stream, aggregate tokens/s per round (all tokens ÷ the round's wall time), failed streams.
 */
export async function loadScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  const bin = await llamaServerPeer(ctx, rec)
  // One sequence per client: the most clients may be over the daemon's default --max-sequences.
  const daemon = await startDaemonChild(ctx.bootstrap, { maxSequences: Math.max(...ctx.settings.loadClients) })
  const dht = createDht({ bootstrap: parseBootstrap(ctx.bootstrap) })
  const clients: QvacClient[] = []
  try {
    clients.push(await connectToChild(daemon, ctx.bootstrap))
    const more = async (n: number) => {
      while (clients.length < n) clients.push(await connect({ peer: daemon.publicKey, dht }))
    }
    for (const name of ctx.settings.loadModels) await loadModel(ctx, rec, name, clients, more, bin)
  } finally {
    for (const c of clients) await c.close()
    await dht.destroy()
    await daemon.stop()
  }
}

async function loadModel(
  ctx: BenchContext,
  rec: ScenarioRecorder,
  name: BenchModelName,
  clients: QvacClient[],
  more: (n: number) => Promise<void>,
  bin: string | null
): Promise<void> {
  const model = ctx.model(name)
  const maxTokens = ctx.settings.maxTokens[name]
  const most = Math.max(...ctx.settings.loadClients)
  const { modelId, info } = await clients[0].loadModel({ source: model.path, config: { sequences: most } })
  rec.note(`load, ${name} model: ${maxTokens} tokens per stream, qvacd with ${most} sequences and llama-server with -np N, both ${info.threads} thread(s), context ${info.contextSize} per stream`)
  try {
    for (const n of ctx.settings.loadClients) {
      await more(n)
      ctx.progress(`load: ${name} model, ${n} concurrent stream(s), ${ctx.settings.loadRounds} rounds per side`)
      const server = bin ? await startLlamaServer(bin, model.path, { threads: info.threads, contextSize: info.contextSize, parallel: n }) : null
      try {
        const sides: Record<string, () => Promise<PromiseSettledResult<StreamSample>[]>> = {
          'qvacd swarm': () => Promise.allSettled(clients.slice(0, n).map((c) => swarmStream(c, modelId, PROMPT, maxTokens)))
        }
        if (server) sides['llama-server'] = () => serverRound(server, n, maxTokens)
        const figures = await rounds(sides, ctx.settings.loadRounds)
        const variant = name === 'tiny' ? `n=${n}` : `${name} n=${n}`
        const summaries = Object.fromEntries(Object.entries(figures).map(([side, f]) => [side, record(rec, variant, side, f)]))
        const qvacd = summaries['qvacd swarm']
        const llama = summaries['llama-server']
        if (llama) rec.ratio(variant, 'qvacd ÷ llama-server aggregate tok/s (p50)', qvacd.rate.p50, llama.rate.p50, n === most ? { op: '>=', target: 1 } : undefined)
        if (n === most) {
          rec.value(variant, 'failed streams', qvacd.errors, { op: '<=', target: 0 })
          rec.ratio(variant, 'p99 TTFT ÷ p50 TTFT', qvacd.ttft.p99, qvacd.ttft.p50, { op: '<=', target: 4 })
          if (llama) rec.ratio(variant, 'llama-server p99 TTFT ÷ p50 TTFT', llama.ttft.p99, llama.ttft.p50)
        }
      } finally {
        await server?.stop()
      }
    }
  } finally {
    await clients[0].unloadModel(modelId)
  }
}

function serverRound(server: LlamaServer, n: number, maxTokens: number): Promise<PromiseSettledResult<StreamSample>[]> {
  return Promise.allSettled(Array.from({ length: n }, () => llamaServerStream(server.port, PROMPT, maxTokens)))
}

interface SideFigures {
  samples: StreamSample[]
  rates: number[]
  errors: number
}

/** One warm-up round per side, then `count` rounds with the sides alternating. */
async function rounds(sides: Record<string, () => Promise<PromiseSettledResult<StreamSample>[]>>, count: number): Promise<Record<string, SideFigures>> {
  const figures: Record<string, SideFigures> = {}
  for (const side of Object.keys(sides)) figures[side] = { samples: [], rates: [], errors: 0 }
  for (let round = 0; round <= count; round++) {
    for (const [side, run] of Object.entries(sides)) {
      await sleep(SETTLE_MS) // the other side's threads stop spinning first (see SETTLE_MS)
      const started = performance.now()
      const results = await run()
      const wall = performance.now() - started
      if (round === 0) continue
      let tokens = 0
      for (const r of results) {
        if (r.status === 'fulfilled') {
          figures[side].samples.push(r.value)
          tokens += r.value.tokens
        } else figures[side].errors++
      }
      figures[side].rates.push((tokens * 1000) / wall)
    }
  }
  return figures
}

function record(rec: ScenarioRecorder, variant: string, side: string, f: SideFigures): { ttft: Summary; rate: Summary; errors: number } {
  const ttft = rec.phase(variant, side, 'TTFT', 'ms', f.samples.map((s) => s.ttftMs))
  rec.phase(variant, side, 'ITL', 'ms', f.samples.flatMap((s) => s.itlMs))
  const rate = rec.phase(variant, side, 'aggregate tokens/s', 'tok/s', f.rates)
  rec.phase(variant, side, 'errors', 'count', [f.errors])
  return { ttft, rate, errors: f.errors }
}
