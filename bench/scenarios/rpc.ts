import path from 'node:path'
import ProtomuxRPC from 'protomux-rpc'
import { connect } from '../../client/index.ts'
import { firstLine, profileArgs, spawnChild, stopChild, TSX_ENTRY } from '../children.ts'
import type { BenchContext } from '../context.ts'
import type { ScenarioRecorder } from '../report.ts'
import { ECHO_PROTOCOL } from '../protocols.ts'
import { permutations } from '../interleave.ts'

const PEER = path.join(import.meta.dirname, '..', 'rpc-peer.ts')
const WARMUP = 100

/**
 * Bare protomux-rpc echo vs qvacd `ping` with profiling off and on, all over one swarm connection
 * to one child process, one round trip per side in turn.
 */
export async function rpcScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  const child = spawnChild(process.execPath, [...profileArgs(), ...TSX_ENTRY, PEER, ctx.bootstrap])
  try {
    const { publicKey } = JSON.parse(await firstLine(child, 'rpc peer')) as { publicKey: string }
    const client = await connect({ peer: publicKey, bootstrap: ctx.bootstrap })
    try {
      const transport = await client.ready()
      const echo = new ProtomuxRPC(transport.rpc.stream, { protocol: ECHO_PROTOCOL })
      await new Promise<void>((resolve, reject) => {
        echo.once('open', () => resolve())
        echo.once('close', () => reject(new Error('the echo channel closed before it opened')))
      })

      const payload = Buffer.alloc(0)
      // Enabled once; each call then says whether it is profiled (envelope asked, record kept) or not.
      client.profiler.enable({ mode: 'summary' })
      const sides = {
        'protomux-rpc echo': () => echo.request('echo', payload),
        'qvacd ping': () => client.ping({ profiling: false }),
        'qvacd ping, profiling on': () => client.ping({ profiling: true })
      }
      const times: Record<keyof typeof sides, number[]> = { 'protomux-rpc echo': [], 'qvacd ping': [], 'qvacd ping, profiling on': [] }
      for (const call of Object.values(sides)) for (let i = 0; i < WARMUP; i++) await call()

      const { rpcCalls } = ctx.settings
      ctx.progress(`rpc: ${rpcCalls} round trips per side, one per side in turn`)
      // One round trip per side in turn, the order cycling through every permutation: this VM has
      // slow phases of 10–100 ms (every round trip 75–130 µs instead of 55–60), and batches of
      // 250 (15 ms) left each side's p50 to the luck of which batches a phase hit.
      const names = Object.keys(sides) as Array<keyof typeof sides>
      const orders = permutations(names)
      for (let round = 0; round < rpcCalls; round++) {
        for (const name of orders[round % orders.length]) {
          const start = performance.now()
          await sides[name]()
          times[name].push(performance.now() - start)
        }
      }
      const bare = rec.phase('', 'protomux-rpc echo', 'round trip', 'ms', times['protomux-rpc echo'])
      const qvacd = rec.phase('', 'qvacd ping', 'round trip', 'ms', times['qvacd ping'])
      const profiled = rec.phase('', 'qvacd ping, profiling on', 'round trip', 'ms', times['qvacd ping, profiling on'])
      rec.ratio('', 'qvacd ping ÷ bare protomux-rpc (p50)', qvacd.p50, bare.p50, { op: '<=', target: 1.1 })
      rec.ratio('', 'qvacd ping ÷ bare protomux-rpc (avg)', qvacd.avg, bare.avg)
      rec.ratio('', 'profiling on ÷ off (p50)', profiled.p50, qvacd.p50, { op: '<=', target: 1.05 })
      rec.ratio('', 'profiling on ÷ off (avg)', profiled.avg, qvacd.avg)
    } finally {
      await client.close()
    }
  } finally {
    await stopChild(child)
  }
}
