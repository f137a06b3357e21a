import os from 'node:os'
import createTestnet from 'hyperdht/testnet.js'
import { getLlama, LlamaLogLevel } from 'node-llama-cpp'
import { QvacError } from '../shared/errors.ts'
import { PROMPT, SETTINGS, type BenchContext, type BenchSettings } from './context.ts'
import { gitInfo, machineInfo } from './machine.ts'
import { benchCacheDir, benchModel, type BenchModel, type BenchModelName } from './models.ts'
import { ScenarioRecorder, type BenchReport } from './report.ts'
import { SCENARIOS } from './scenarios/index.ts'

export interface BenchOptions {
  scenarios: string[]
  mode: 'quick' | 'full'
  /** Replaces the mode's iteration counts (the tests run with tiny ones). */
  settings?: Partial<BenchSettings>
  command?: string
  progress?: (line: string) => void
}

export function checkScenarios(names: string[]): string[] {
  const unknown = names.filter((n) => !(n in SCENARIOS))
  if (unknown.length > 0) {
    throw new QvacError('INVALID_ARGUMENT', `unknown scenario ${unknown.join(', ')} (scenarios: ${Object.keys(SCENARIOS).join(', ')})`)
  }
  return names.length > 0 ? names : Object.keys(SCENARIOS)
}

/**
 * Runs the scenarios on a loopback DHT of its own and returns the report. A scenario that fails
 * is reported as unavailable with its error; the others still run.
 */
export async function benchmark(opts: BenchOptions): Promise<BenchReport> {
  const scenarios = checkScenarios(opts.scenarios)
  const progress = opts.progress ?? (() => {})
  const settings = { ...SETTINGS[opts.mode], ...opts.settings }
  const cacheDir = benchCacheDir()
  const testnet = await createTestnet(5, { host: '127.0.0.1' })
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error })
  const models = new Map<BenchModelName, BenchModel>()
  const ctx: BenchContext = {
    mode: opts.mode,
    settings,
    bootstrap: testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(','),
    llama,
    cores: os.availableParallelism(),
    cacheDir,
    model(name) {
      let model = models.get(name)
      if (!model) {
        progress(`model: ${name} (generated into ${cacheDir} on first use)`)
        model = benchModel(name, cacheDir)
        models.set(name, model)
      }
      return model
    },
    progress
  }

  const report: BenchReport = {
    format: 'qvacd-bench/1',
    date: new Date().toISOString(),
    mode: opts.mode,
    command: opts.command ?? '',
    git: gitInfo(),
    machine: machineInfo(llama),
    scenarios,
    phases: [],
    ratios: [],
    unavailable: [],
    notes: [`prompt "${PROMPT}", greedy (temperature 0); warm-up runs excluded; sides interleaved`]
  }
  try {
    for (const name of scenarios) {
      const rec = new ScenarioRecorder(name)
      const started = performance.now()
      progress(`${name}: running`)
      try {
        await SCENARIOS[name](ctx, rec)
      } catch (err) {
        rec.unavailableFor('scenario', `failed: ${err instanceof Error ? err.message : String(err)}`)
      }
      progress(`${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
      report.phases.push(...rec.phases)
      report.ratios.push(...rec.ratios)
      report.unavailable.push(...rec.unavailable)
      report.notes.push(...rec.notes)
    }
    for (const model of models.values()) report.notes.push(`model ${model.name}: ${model.description}, ${(model.size / 1e6).toFixed(1)} MB`)
  } finally {
    report.machine.loadAverageEnd = os.loadavg()[0]
    await llama.dispose()
    await testnet.destroy()
  }
  return report
}
