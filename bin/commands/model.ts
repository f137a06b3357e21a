import path from 'node:path'
import { writeTinyLlamaGguf } from '../../bench/tiny-model.ts'
import { formatBytes } from '../format/units.ts'

/**
 * `qvacd model tiny OUT.gguf`: the tiny random-weights llama model the tests use, so the README
 * can be followed without a download. It answers with gibberish: its weights are random.
 */
export async function runModelTiny(out: string, opts: { seed?: number; json?: boolean }): Promise<void> {
  const model = writeTinyLlamaGguf(path.resolve(out), { seed: opts.seed })
  process.stdout.write(
    opts.json
      ? JSON.stringify({ path: model.path, size: model.size, sha256: model.sha256 }) + '\n'
      : `wrote ${model.path} (${formatBytes(model.size)}): a tiny llama GGUF with random weights — it runs, and answers with gibberish\n`
  )
}
