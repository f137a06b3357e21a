import path from 'node:path'
import ProtomuxRPC from 'protomux-rpc'
import { connect } from '../../client/index.ts'
import { firstLine, profileArgs, spawnChild, stopChild, TSX_ENTRY } from '../children.ts'
import type { BenchContext } from '../context.ts'
import type { ScenarioRecorder } from '../report.ts'
import { ECHO_PROTOCOL } from '../protocols.ts'

const PEER = path.join(import.meta.dirname, '..', 'rpc-peer.ts')
const WARMUP = 100

/**
 * Bare protomux-rpc echo vs qvacd `ping` with profiling off and on, all over one swarm connection
 * to one child process, in alternating batches of sequential round trips.
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

      const { rpcCalls, rpcBatch } = ctx.settings
      ctx.progress(`rpc: ${rpcCalls} round trips per side in batches of ${rpcBatch}`)
      for (let done = 0; done < rpcCalls; done += rpcBatch) {
        for (const [name, call] of Object.entries(sides) as Array<[keyof typeof sides, () => Promise<unknown>]>) {
          for (let i = 0; i < rpcBatch; i++) {
            const start = performance.now()
            await call()
            times[name].push(performance.now() - start)
          }
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
