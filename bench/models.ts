import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { writeTinyLlamaGguf, type TinyLlamaOptions } from './tiny-model.ts'

export type BenchModelName = 'tiny' | 'large'

export interface BenchModel {
  name: BenchModelName
  path: string
  size: number
  /** What it is, for the report. */
  description: string
}

// Greedy never stops on EOS, so every stream runs to maxTokens: equal work on every side.
const MODELS: Record<BenchModelName, { options: TinyLlamaOptions; description: string }> = {
  tiny: { options: { eos: 'suppress' }, description: 'generator default: 64 embd, 2 layers, 512 vocab, f32 (per-token overhead dominates)' },
  large: {
    options: { embd: 512, layers: 8, heads: 8, headsKv: 8, vocab: 32000, ctx: 2048, weightType: 'f32', eos: 'suppress', name: 'qvacd-bench-large' },
    description: '512 embd, 8 layers, 32000 vocab, f32, 60 M parameters (compute dominates)'
  }
}

/** Where the bench keeps what it generates or builds, outside the repo (`$QVACD_BENCH_CACHE`). */
export function benchCacheDir(): string {
  return process.env.QVACD_BENCH_CACHE ?? path.join(os.homedir(), '.cache', 'qvacd')
}

/** Where the generated models live (the daemon under bench serves it as its models dir). */
export function benchModelsDir(cacheDir = benchCacheDir()): string {
  return path.join(cacheDir, 'bench-models')
}

/** The model file, generated once into the cache (the generator is deterministic, never downloaded). */
export function benchModel(name: BenchModelName, cacheDir = benchCacheDir()): BenchModel {
  const { options, description } = MODELS[name]
  const dir = benchModelsDir(cacheDir)
  // Named by its options: a changed recipe is a new file, never a stale one.
  const tag = crypto.createHash('sha256').update(JSON.stringify(options)).digest('hex').slice(0, 8)
  const file = path.join(dir, `${name}-${tag}.gguf`)
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true })
    const tmp = `${file}.${process.pid}.tmp`
    writeTinyLlamaGguf(tmp, options)
    fs.renameSync(tmp, file)
  }
  return { name, path: file, size: fs.statSync(file).size, description }
}
