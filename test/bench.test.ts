import path from 'node:path'
import fs from 'node:fs/promises'
import test from 'brittle'
import { quantile, ratio, summarize } from '../bench/stats.ts'
import { compareReports, loadReport, saveReport } from '../bench/report.ts'
import { comparisonToText, reportToText } from '../bench/print.ts'
import { benchmark } from '../bench/run.ts'
import { permutations } from '../bench/interleave.ts'
import { emptyBenchCache, fakeReport } from './helpers/bench-report.ts'
import { execFileSync } from 'node:child_process'

const inCheckout = (() => {
  try {
    execFileSync('git', ['rev-parse', 'HEAD'], { cwd: path.join(import.meta.dirname, '..'), stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

test('statistics of known samples: min, avg, max and interpolated percentiles', (t) => {
  const s = summarize(Array.from({ length: 100 }, (_, i) => 100 - i))
  t.is(s.n, 100)
  t.is(s.min, 1)
  t.is(s.max, 100)
  t.is(s.avg, 50.5)
  t.is(s.p50, 50.5)
  t.ok(Math.abs(s.p95 - 95.05) < 1e-9, `p95 ${s.p95}`)
  t.ok(Math.abs(s.p99 - 99.01) < 1e-9, `p99 ${s.p99}`)
  t.alike(summarize([7]), { n: 1, min: 7, avg: 7, max: 7, p50: 7, p95: 7, p99: 7 })
  t.is(quantile([1, 3], 0.5), 2)
  t.ok(Number.isNaN(summarize([]).p50), 'no samples: no figure')
  t.is(ratio(3, 2), 1.5)
  t.ok(Number.isNaN(ratio(1, 0)) && Number.isNaN(ratio(NaN, 1)), 'a ratio with a missing side is NaN')
})

test('a saved report loads back as it was, and compare flags only what got worse', async (t) => {
  const dir = await t.tmp()
  const oldFile = path.join(dir, 'old.json')
  const newFile = path.join(dir, 'new.json')
  const old = fakeReport()
  await saveReport(oldFile, old)
  t.alike(await loadReport(oldFile), old)

  // TTFT 20 % slower, tokens/s 20 % faster, ratios 10 % lower (one has a >= goal, one a <= goal),
  // and the TTFT gap over its goal.
  await saveReport(newFile, fakeReport({ ms: 1.2, tps: 1.2, ratio: 0.9 }))
  const rows = compareReports(await loadReport(oldFile), await loadReport(newFile), 0.05)
  const byKey = Object.fromEntries(rows.map((r) => [r.key, r]))
  t.is(rows.length, 5)
  t.ok(byKey['stream/tiny/qvacd swarm/TTFT p50'].regression, 'slower time is a regression')
  t.ok(Math.abs(byKey['stream/tiny/qvacd swarm/TTFT p50'].change - 1.2) < 1e-9)
  t.absent(byKey['stream/tiny/qvacd swarm/tokens/s p50'].regression, 'faster rate is not')
  t.ok(byKey['stream/tiny/swarm tok/s ÷ in-process (p50)'].regression, 'a >= ratio that fell is a regression')
  t.absent(byKey['rpc/qvacd ping ÷ bare protomux-rpc (p50)'].regression, 'a <= ratio that fell is not')
  const ttftGap = byKey['stream/tiny/swarm TTFT − in-process, ms (p50)']
  t.ok(Math.abs(ttftGap.change - 0.38) < 1e-9, 'a difference compares by subtraction')
  t.ok(ttftGap.regression, 'a difference that crossed its goal (1.9 → 2.28 ms, goal ≤ 2) is a regression')
  t.ok(comparisonToText(rows, 0.05, 'old', 'new').includes('3 regressions'))
  t.absent(compareReports(old, old, 0.05).some((r) => r.regression), 'a run compared with itself has no regression')

  await fs.writeFile(path.join(dir, 'other.json'), '{"format":"something-else"}')
  await t.exception(loadReport(path.join(dir, 'other.json')), /not a qvacd bench report/)
})

test('the terminal report shows the machine, phases, ratios with goals and what was unavailable', (t) => {
  const text = reportToText(fakeReport())
  t.ok(text.includes('test cpu, 2 cores'))
  t.ok(text.includes('node-llama-cpp prebuilt'))
  t.ok(text.includes('== stream') && text.includes('TTFT'))
  t.ok(text.includes('>= 0.97  met'))
  t.ok(text.includes('unavailable: profiling-on column: not measured in this fixture'))
})

test('the rpc scenario takes its sides in every order equally often', (t) => {
  const orders = permutations(['a', 'b', 'c'])
  t.is(orders.length, 6)
  t.is(new Set(orders.map((o) => o.join(''))).size, 6, 'no order twice')
  t.ok(orders.every((o) => [...o].sort().join('') === 'abc'), 'each order holds every side once')
  for (const side of ['a', 'b', 'c']) t.alike(orders.map((o) => o.indexOf(side)).sort(), [0, 0, 1, 1, 2, 2], `${side} first, second and last twice each`)
  t.alike(permutations([1]), [[1]])
})

test('quick rpc and stream scenarios run end to end with tiny iteration counts', async (t) => {
  await emptyBenchCache(t)
  const report = await benchmark({
    scenarios: ['rpc', 'stream'],
    mode: 'quick',
    settings: { rpcCalls: 20, streams: { tiny: 2, large: 1 }, maxTokens: { tiny: 8, large: 4 }, models: ['tiny'] }
  })
  t.alike(report.unavailable, [], 'nothing failed')
  const rpc = report.phases.filter((p) => p.scenario === 'rpc')
  t.alike(rpc.map((p) => p.side), ['protomux-rpc echo', 'qvacd ping', 'qvacd ping, profiling on'])
  t.ok(rpc.every((p) => p.summary.n === 20 && p.summary.min > 0))
  const ttft = report.phases.find((p) => p.scenario === 'stream' && p.side === 'qvacd swarm' && p.metric === 'TTFT')
  t.is(ttft?.summary.n, 2, 'warm-up excluded: exactly the fixed count')
  const itl = report.phases.find((p) => p.scenario === 'stream' && p.side === 'in-process' && p.metric === 'ITL')
  t.is(itl?.summary.n, 2 * 7, 'one ITL per token after the first')
  t.ok(report.ratios.some((r) => r.name.startsWith('swarm tok/s ÷ in-process') && Number.isFinite(r.value)))
  // From a checkout, the commit; from an exported tree (git archive, a tarball), 'unknown'.
  t.ok(report.git.sha === (inCheckout ? report.git.sha.match(/^[0-9a-f]{40}$/)?.[0] : 'unknown'), `git sha ${report.git.sha}`)
  t.ok(reportToText(report).includes('== stream'))
})

test('the load scenario runs N concurrent streams per round and says when llama-server is not there to compare', { timeout: 120_000 }, async (t) => {
  await emptyBenchCache(t)
  const report = await benchmark({
    scenarios: ['load'],
    mode: 'quick',
    settings: { loadClients: [1, 3], loadRounds: 1, loadModels: ['tiny'], maxTokens: { tiny: 6, large: 4 } }
  })
  t.alike(report.unavailable.map((u) => u.what), ['llama-server peer'], 'the missing peer is reported, not skipped silently')
  const ttft = report.phases.find((p) => p.variant === 'n=3' && p.side === 'qvacd swarm' && p.metric === 'TTFT')
  t.is(ttft?.summary.n, 3, 'one TTFT per stream of the measured round')
  const errors = report.phases.find((p) => p.variant === 'n=3' && p.metric === 'errors')
  t.is(errors?.summary.max, 0)
  t.ok(report.ratios.some((r) => r.variant === 'n=3' && r.name === 'p99 TTFT ÷ p50 TTFT'), 'the tail ratio at the largest N')
})
