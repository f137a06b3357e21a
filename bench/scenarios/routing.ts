import type { BenchContext } from '../context.ts'
import type { ScenarioRecorder } from '../report.ts'
import { POLICIES, simulate } from '../routing-sim.ts'

const STREAM_MS = 1000
const LOAD = 0.9

/**
 * Routing on a topic of 100 daemons, simulated (bench/routing-sim.ts): queue wait of a stream
 * under first-answer, random, power of two choices and qvacd's rule at 90% load.
 */
export async function routingScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  ctx.progress('routing: simulating 100 daemons, 200 clients of 8 connections each')
  rec.note(`simulated: 100 daemons of one sequence, 200 clients each connected to 8, load ${LOAD}, streams of ${STREAM_MS} ms on average, announcements ${STREAM_MS / 2} ms apart`)
  const p99: Record<string, number> = {}
  for (const policy of POLICIES) {
    const waits = simulate(policy, { load: LOAD }).map((w) => w * STREAM_MS)
    p99[policy] = rec.phase(`load=${LOAD}`, policy, 'queue wait', 'ms', waits).p99
  }
  rec.ratio(`load=${LOAD}`, 'qvacd ÷ random (queue wait p99)', p99.qvacd, p99.random, { op: '<=', target: 0.25 })
  rec.ratio(`load=${LOAD}`, 'qvacd ÷ power of two (queue wait p99)', p99.qvacd, p99['power-of-two'])
}
