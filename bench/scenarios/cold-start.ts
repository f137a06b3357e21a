import { isQvacError } from '../../client/index.ts'
import { PROMPT, type BenchContext } from '../context.ts'
import { connectToChild, startDaemonChild } from '../daemon-child.ts'
import type { ScenarioRecorder } from '../report.ts'
import { startSeedPeer } from '../seeder.ts'

/**
 * From spawning `qvacd start` to the first token at a client, per phase: process start (to its
 * startup line), connect over the swarm, loadModel, first token. Model cached: a local file.
 */
export async function coldStartScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  for (const name of ctx.settings.models) {
    const model = ctx.model(name)
    const phases = { start: [] as number[], connect: [] as number[], loadModel: [] as number[], 'first token': [] as number[], total: [] as number[] }
    ctx.progress(`cold-start: ${name} model, ${ctx.settings.coldStarts} starts`)
    for (let i = 0; i < ctx.settings.coldStarts + 1; i++) {
      const spawned = performance.now()
      const daemon = await startDaemonChild(ctx.bootstrap)
      try {
        let t = performance.now()
        const client = await connectToChild(daemon, ctx.bootstrap)
        const connectMs = performance.now() - t
        try {
          t = performance.now()
          const { modelId } = await client.loadModel({ source: model.path })
          const loadMs = performance.now() - t
          t = performance.now()
          const stream = client.infer({ modelId, prompt: PROMPT, maxTokens: 1, temperature: 0 })
          for await (const chunk of stream) if (chunk.tokens.length > 0) break
          const firstMs = performance.now() - t
          const total = performance.now() - spawned
          if (i === 0) continue // warm-up: the first spawn also warms the OS file cache and tsx's compile cache
          phases.start.push(daemon.startMs)
          phases.connect.push(connectMs)
          phases.loadModel.push(loadMs)
          phases['first token'].push(firstMs)
          phases.total.push(total)
        } finally {
          await client.close()
        }
      } finally {
        await daemon.stop()
      }
    }
    for (const [phase, samples] of Object.entries(phases)) rec.phase(`${name} cached`, 'qvacd start', phase, 'ms', samples)
  }
  await notCached(ctx, rec)
}

/**
 * The model not cached: the daemon fetches it from a Hyperdrive seeded by another process. Tried
 * for real: a daemon that cannot resolve `hyperdrive://` yet makes this unavailable, with its error.
 */
async function notCached(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  const model = ctx.model('tiny')
  const seed = await startSeedPeer(ctx.bootstrap, model.path)
  try {
    const samples: number[] = []
    for (let i = 0; i < ctx.settings.coldStarts; i++) {
      const spawned = performance.now()
      const daemon = await startDaemonChild(ctx.bootstrap)
      try {
        const client = await connectToChild(daemon, ctx.bootstrap)
        try {
          const { modelId } = await client.loadModel({ source: seed.uri })
          const stream = client.infer({ modelId, prompt: PROMPT, maxTokens: 1, temperature: 0 })
          for await (const chunk of stream) if (chunk.tokens.length > 0) break
          samples.push(performance.now() - spawned)
        } catch (err) {
          const why = isQvacError(err) ? `${err.name}: ${err.message}` : String(err)
          return rec.unavailableFor('model not cached (hyperdrive:// source)', `the daemon does not resolve it yet (${why})`)
        } finally {
          await client.close()
        }
      } finally {
        await daemon.stop()
      }
    }
    rec.phase('tiny not cached', 'qvacd start', 'total', 'ms', samples)
  } finally {
    await seed.stop()
  }
}
