/**
 * A small discrete-event simulation of routing on a topic of many daemons: how long a stream
 * waits for a sequence under first-answer routing (the old client: every client keeps whichever
 * daemon answered first), random choice, power of two choices, and qvacd's own rule
 * (client/topic/route.ts, run as is) on announcements that are up to one period stale.
 *
 * Model: `daemons` daemons with one sequence each and a FIFO queue; Poisson arrivals at
 * `load` × capacity; exponential service times (mean 1 time unit = one stream); `clients` clients,
 * each connected to `perClient` daemons drawn at random (the client's bounded set).
 *
 * Run alone: `node --import tsx bench/routing-sim.ts` (prints a table), or as the bench's
 * `routing` scenario.
 */
import { choose, type Candidate } from '../client/topic/route.ts'
import type { LoadReport } from '../shared/messages.ts'
import { summarize, type Summary } from './stats.ts'

export interface RoutingSimOptions {
  daemons?: number
  clients?: number
  perClient?: number
  /** Offered load as a fraction of total capacity. */
  load?: number
  requests?: number
  /** Announcement period in time units (a daemon announces about every second; a stream lasts seconds). */
  announceEvery?: number
  seed?: number
}

export type Policy = 'first-answer' | 'random' | 'power-of-two' | 'qvacd'
export const POLICIES: Policy[] = ['first-answer', 'random', 'power-of-two', 'qvacd']

interface Daemon {
  arrivals: number[]
  finishes: number[]
  /** When the sequence is free again (one sequence: FIFO finish times only grow). */
  freeAt: number
  /** Offset of its announcement clock. */
  phase: number
}

/** Queue waits (time units) of every request under one policy. */
export function simulate(policy: Policy, opts: RoutingSimOptions = {}): number[] {
  const { daemons: n = 100, clients: nc = 200, perClient = 8, load = 0.9, requests = 40_000, announceEvery = 0.5, seed = 1 } = opts
  const random = mulberry32(seed)
  const daemons: Daemon[] = Array.from({ length: n }, () => ({ arrivals: [], finishes: [], freeAt: 0, phase: random() * announceEvery }))
  // What the swarm's latency makes "first to answer": a shared distance plus a little per-client jitter.
  const distance = daemons.map(() => 5 + random() * 45)
  const clients = Array.from({ length: nc }, () => {
    const set = sampleIndices(n, perClient, random)
    const first = set.reduce((best, d) => (distance[d] + random() * 5 < distance[best] + random() * 5 ? d : best), set[0])
    return { set, first, sent: new Map<number, number[]>() }
  })

  const rate = load * n
  const waits: number[] = []
  let t = 0
  for (let i = 0; i < requests; i++) {
    t += -Math.log(1 - random()) / rate
    const client = clients[Math.floor(random() * nc)]
    let d: number
    if (policy === 'first-answer') d = client.first
    else if (policy === 'random') d = client.set[Math.floor(random() * perClient)]
    else if (policy === 'power-of-two') {
      const [a, b] = sampleIndices(perClient, 2, random).map((k) => client.set[k])
      d = announced(daemons[a], t, announceEvery) <= announced(daemons[b], t, announceEvery) ? a : b
    } else {
      const candidates = client.set.map((k) => candidate(k, daemons[k], t, announceEvery, client.sent.get(k) ?? []))
      d = choose(candidates, { source: 'model' }, random)!.candidate.index
    }
    const daemon = daemons[d]
    const start = Math.max(t, daemon.freeAt)
    const finish = start - Math.log(1 - random())
    daemon.freeAt = finish
    daemon.arrivals.push(t)
    daemon.finishes.push(finish)
    if (policy === 'qvacd') {
      const sent = client.sent.get(d) ?? []
      sent.push(t, finish)
      client.sent.set(d, sent)
    }
    waits.push(start - t)
  }
  return waits
}

/** Summaries of every policy on the same workload. */
export function compareRouting(opts: RoutingSimOptions = {}): Record<Policy, Summary> {
  return Object.fromEntries(POLICIES.map((p) => [p, summarize(simulate(p, opts))])) as Record<Policy, Summary>
}

/** Streams in the daemon (busy + queued) at its last announcement before `t`. */
function announced(d: Daemon, t: number, every: number): number {
  const at = Math.floor((t - d.phase) / every) * every + d.phase
  return countAtMost(d.arrivals, at) - countAtMost(d.finishes, at)
}

/** A daemon as the client's router sees it: the stale announcement, plus its own streams sent since. */
function candidate(index: number, d: Daemon, t: number, every: number, sent: number[]): Candidate & { index: number } {
  const at = Math.floor((t - d.phase) / every) * every + d.phase
  const inSystem = announced(d, t, every)
  const busy = Math.min(1, inSystem)
  let unannounced = 0
  for (let i = 0; i < sent.length; i += 2) if (sent[i] > at && sent[i + 1] > t) unannounced++
  const report: LoadReport = {
    seq: 0,
    version: 'sim',
    backend: 'cpu',
    threads: 1,
    openStreams: inSystem,
    queued: inSystem - busy,
    ttftP50: 0,
    tokensPerSecondP50: 0,
    models: [{ modelId: 'm', source: 'model', sha256: '', sequences: 1, busy, queued: inSystem - busy }]
  }
  return { id: String(index), index, load: report, unannounced, placed: true }
}

/** How many of the sorted values are ≤ x. */
function countAtMost(sorted: number[], x: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid] <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}

function sampleIndices(n: number, k: number, random: () => number): number[] {
  const picked = new Set<number>()
  while (picked.size < Math.min(k, n)) picked.add(Math.floor(random() * n))
  return [...picked]
}

/** A small seeded PRNG: the same seed gives the same run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const load of [0.5, 0.8, 0.9, 0.95]) {
    const results = compareRouting({ load })
    console.log(`load ${load}: queue wait in stream lengths (p50 / p99)`)
    for (const [policy, s] of Object.entries(results)) console.log(`  ${policy.padEnd(13)} ${s.p50.toFixed(3)} / ${s.p99.toFixed(3)}`)
  }
}
