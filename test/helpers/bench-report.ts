import type { BenchReport, Phase, Ratio } from '../../bench/report.ts'
import { summarize } from '../../bench/stats.ts'

/** A saved-report-shaped fixture with one phase per unit and ratios with and without goals. */
export function fakeReport(scale: { ms?: number; tps?: number; ratio?: number } = {}): BenchReport {
  const { ms = 1, tps = 1, ratio = 1 } = scale
  const phase = (side: string, metric: string, unit: Phase['unit'], samples: number[]): Phase => ({
    scenario: 'stream',
    variant: 'tiny',
    side,
    metric,
    unit,
    summary: summarize(samples)
  })
  const ratios: Ratio[] = [
    { scenario: 'stream', variant: 'tiny', name: 'swarm tok/s ÷ in-process (p50)', value: 0.99 * ratio, goal: { op: '>=', target: 0.97 }, met: 0.99 * ratio >= 0.97 },
    { scenario: 'rpc', variant: '', name: 'qvacd ping ÷ bare protomux-rpc (p50)', value: 1.05 * ratio, goal: { op: '<=', target: 1.1 }, met: 1.05 * ratio <= 1.1 },
    { scenario: 'stream', variant: 'tiny', name: 'swarm TTFT − in-process, ms (p50)', value: 1.9 * ms, goal: { op: '<=', target: 2 }, met: 1.9 * ms <= 2, kind: 'difference' }
  ]
  return {
    format: 'qvacd-bench/1',
    date: '2026-01-01T00:00:00.000Z',
    mode: 'quick',
    command: 'qvacd bench stream',
    git: { sha: '0123456789abcdef0123456789abcdef01234567', dirty: false },
    machine: {
      cpu: 'test cpu',
      cores: 2,
      memoryBytes: 1024 ** 3,
      platform: 'linux test x64',
      node: 'v20.0.0',
      backendBuild: 'prebuilt',
      backendVersion: 'b0000',
      defaultThreads: 1,
      loadAverageStart: 0.1,
      loadAverageEnd: 0.2
    },
    scenarios: ['rpc', 'stream'],
    phases: [
      phase('qvacd swarm', 'TTFT', 'ms', [2 * ms, 3 * ms, 4 * ms]),
      phase('qvacd swarm', 'tokens/s', 'tok/s', [900 * tps, 1000 * tps, 1100 * tps])
    ],
    ratios,
    unavailable: [{ scenario: 'rpc', what: 'profiling-on column', why: 'not measured in this fixture' }],
    notes: ['stream: a note']
  }
}

/**
 * Points the bench's cache (models, llama-server) at a fresh temporary dir for one test: empty, so
 * no llama-server is found and quick mode builds none. Restored at teardown.
 */
export async function emptyBenchCache(t: { tmp(): Promise<string>; teardown(fn: () => void): void }): Promise<void> {
  const cache = await t.tmp()
  const before = process.env.QVACD_BENCH_CACHE
  process.env.QVACD_BENCH_CACHE = cache
  t.teardown(() => {
    if (before === undefined) delete process.env.QVACD_BENCH_CACHE
    else process.env.QVACD_BENCH_CACHE = before
  })
}
