import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp'
import { BatchDecoder } from '../daemon/inference/batch-decoder.ts'
import { completionPrompt } from '../daemon/inference/prompt.ts'
import { TokenText } from '../daemon/inference/token-text.ts'
import { StreamTimer, type StreamSample } from './stream-sample.ts'

const DEFAULT_CONTEXT_CAP = 4096

/**
 * node-llama-cpp in this process, doing what the daemon does per stream and nothing more: the
 * same tokenization, the same prompt-prefix KV reuse, greedy sampling, text decoded per token.
 * Tokens come from node-llama-cpp's own `sequence.evaluate` (what an application importing
 * node-llama-cpp gets), or with `decoder` from the daemon's BatchDecoder (the daemon's generation
 * code without the swarm; on the tiny model it runs slower here than in the daemon, not yet
 * explained: BENCHMARKS.md).
 */
export class InProcessModel {
  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
    private readonly decoder: BatchDecoder | null
  ) {}

  /** Same context size as the daemon picks when loadModel gives none. */
  static async load(llama: Llama, modelPath: string, threads: number, opts: { decoder?: boolean } = {}): Promise<InProcessModel> {
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 })
    const context = await model.createContext({ contextSize: Math.min(model.trainContextSize, DEFAULT_CONTEXT_CAP), sequences: 1, threads })
    return new InProcessModel(model, context, context.getSequence(), opts.decoder ? new BatchDecoder(context) : null)
  }

  async stream(prompt: string, maxTokens: number): Promise<StreamSample> {
    const timer = new StreamTimer()
    const prepared = await completionPrompt(this.model, prompt)
    const input = prepared.tokens.slice(0, -1)
    await this.sequence.adaptStateToTokens(input, false)
    const pending = [...input.slice(this.sequence.nextTokenIndex), ...prepared.tokens.slice(-1)]
    const text = new TokenText(this.model, prepared.tokens)
    let generated = 0
    const greedy = { temperature: 0, topP: 0.95, topK: 40, seed: 0 }
    const tokens = this.decoder ? this.decoder.evaluate(this.sequence, pending, greedy) : this.sequence.evaluate(pending, greedy)
    for await (const token of tokens) {
      text.push(token)
      timer.chunk(1)
      if (++generated >= maxTokens) break
    }
    return timer.finish()
  }

  async dispose(): Promise<void> {
    await this.context.dispose()
    await this.model.dispose()
  }
}
