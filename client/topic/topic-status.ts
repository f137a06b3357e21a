import type { BootstrapNode } from 'hyperdht'
import HyperDHT from 'hyperdht'
import type { DaemonStatus } from '../../shared/messages.ts'
import { topicFromName } from '../../shared/keys.ts'
import { createDht } from '../dht.ts'
import { Profiler } from '../profiler/profiler.ts'
import { DaemonSet } from './daemon-set.ts'

/** One daemon of a topic as the operator's view shows it. */
export interface TopicDaemon {
  /** z32 */
  publicKey: string
  status: DaemonStatus
  /** Round trip of a ping over the swarm, ms. */
  rttMs: number
}

/**
 * Every daemon announcing a topic (up to `maxDaemons`), each asked for its status and pinged
 * once. Daemons that cannot be reached within `timeoutMs` are left out.
 */
export async function topicStatus(opts: { topic: string; bootstrap?: BootstrapNode[]; timeoutMs: number; maxDaemons?: number }): Promise<TopicDaemon[]> {
  const dht = createDht({ bootstrap: opts.bootstrap })
  const daemons = new DaemonSet({
    dht,
    topic: topicFromName(opts.topic),
    keyPair: HyperDHT.keyPair(),
    profiler: new Profiler(),
    maxDaemons: opts.maxDaemons ?? 256
  })
  const deadline = Date.now() + opts.timeoutMs
  try {
    await daemons.refresh()
    // Wait for every connection found to open or fail.
    while ([...daemons.members.values()].some((m) => !m.ready) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const rows = await Promise.all(
      daemons.connected().map(async (member) => {
        try {
          const timeout = Math.max(1, deadline - Date.now())
          const started = performance.now()
          await member.client.ping({ timeout })
          const rttMs = performance.now() - started
          return { publicKey: member.id, status: await member.client.status({ timeout }), rttMs }
        } catch {
          return null
        }
      })
    )
    return rows.filter((r): r is TopicDaemon => r !== null).sort((a, b) => a.publicKey.localeCompare(b.publicKey))
  } finally {
    await daemons.close()
    await dht.destroy()
  }
}
