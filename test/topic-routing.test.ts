import test from 'brittle'
import { choose, type Candidate } from '../client/topic/route.ts'
import { compareRouting } from '../bench/routing-sim.ts'
import type { LoadReport } from '../shared/messages.ts'

function daemon(id: string, models: Array<{ source: string; sequences: number; busy: number; queued?: number }>, extra: Partial<Candidate> = {}): Candidate {
  const load: LoadReport = {
    seq: 1,
    version: 'test',
    backend: 'cpu',
    threads: 1,
    openStreams: models.reduce((n, m) => n + m.busy + (m.queued ?? 0), 0),
    queued: models.reduce((n, m) => n + (m.queued ?? 0), 0),
    ttftP50: 0,
    tokensPerSecondP50: 0,
    models: models.map((m, i) => ({ modelId: `m${i}`, sha256: '', queued: 0, ...m }))
  }
  return { id, load, unannounced: 0, placed: false, ...extra }
}

test('route: a daemon with the model loaded and the most free sequences wins', (t) => {
  const a = daemon('a', [{ source: 'x', sequences: 4, busy: 3 }])
  const b = daemon('b', [{ source: 'x', sequences: 4, busy: 1 }])
  const c = daemon('c', [])
  const choice = choose([a, b, c], { source: 'x' })
  t.is(choice?.candidate.id, 'b')
  t.ok(choice?.reason.includes('3 of 4 sequences free'), choice?.reason)
})

test('route: with every holder busy, an idle daemon that will load the model wins', (t) => {
  const a = daemon('a', [{ source: 'x', sequences: 1, busy: 1 }])
  const idle = daemon('idle', [])
  const busyOther = daemon('other', [{ source: 'y', sequences: 1, busy: 1 }])
  const choice = choose([a, idle, busyOther], { source: 'x' })
  t.is(choice?.candidate.id, 'idle')
  t.ok(choice?.reason.includes('will load'), choice?.reason)
})

test('route: with everything busy, the shortest queue among holders; streams not yet announced count', (t) => {
  const a = daemon('a', [{ source: 'x', sequences: 1, busy: 1, queued: 2 }])
  const b = daemon('b', [{ source: 'x', sequences: 1, busy: 1, queued: 0 }], { unannounced: 1 })
  const c = daemon('c', [{ source: 'x', sequences: 1, busy: 1, queued: 0 }])
  const d = daemon('d', [{ source: 'y', sequences: 1, busy: 1 }])
  t.is(choose([a, b, c, d], { source: 'x' })?.candidate.id, 'c')
})

test('route: a model known by hash matches whatever its source is called there', (t) => {
  const a = daemon('a', [{ source: 'registry://tiny', sequences: 2, busy: 0 }])
  a.load!.models[0].sha256 = 'ab'.repeat(32)
  const b = daemon('b', [])
  t.is(choose([b, a], { source: 'hyperdrive://k/tiny.gguf', sha256: 'ab'.repeat(32) })?.candidate.id, 'a')
})

test('route: ties are broken by two random choices, so equals share the work', (t) => {
  const all = ['a', 'b', 'c', 'd'].map((id) => daemon(id, [{ source: 'x', sequences: 1, busy: 0 }]))
  const counts = new Map<string, number>()
  let seed = 7
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
  for (let i = 0; i < 400; i++) {
    const id = choose(all, { source: 'x' }, random)!.candidate.id
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  t.is(counts.size, 4, `all four chosen: ${[...counts.values()].join('/')}`)
})

test('routing simulation: at 90% load, qvacd routing has the lowest queue-wait p99, first-answer the highest', (t) => {
  const r = compareRouting({ load: 0.9, requests: 20_000 })
  t.comment(Object.entries(r).map(([p, s]) => `${p} p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)}`).join('; '))
  t.ok(r.qvacd.p99 < r['power-of-two'].p99, 'qvacd < power of two')
  t.ok(r['power-of-two'].p99 < r.random.p99, 'power of two < random')
  t.ok(r.random.p99 < r['first-answer'].p99, 'random < first answer')
})
