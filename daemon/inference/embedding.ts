import type { Token } from 'node-llama-cpp'
import type { EmbeddingModel } from './model-manager.ts'
import { tokenizeInSlices } from './prompt.ts'
import { QvacError } from '../../shared/errors.ts'

export interface EmbeddingResult {
  vectors: Float32Array[]
  promptTokens: number[]
  /** ms of backend work for the whole batch. */
  embedTime: number
}

/**
 * One vector per input, L2-normalized as OpenAI and llama-server return them (cosine similarity
 * is then a dot product). An abort stops between inputs: one input is the unit of work.
 */
export async function embedInputs(managed: EmbeddingModel, inputs: string[], signal: AbortSignal): Promise<EmbeddingResult> {
  const context = managed.context
  // Tokenized once, in slices (node-llama-cpp tokenizes synchronously: a long input would stall
  // every peer), and the tokens handed to the backend so it does not tokenize the text again.
  const tokenized: Token[][] = []
  const promptTokens: number[] = []
  for (const [index, input] of inputs.entries()) {
    if (signal.aborted) throw signal.reason
    const tokens = await tokenizeInSlices(context.model.tokenizer, input, false, undefined)
    const length = context.calculateInputLength(tokens) // with the BOS/EOS the backend adds
    if (length >= managed.info.contextSize) {
      throw new QvacError('PROMPT_TOO_LONG', `input ${index} is ${length} tokens; the context holds ${managed.info.contextSize}`, {
        details: { input: index, promptTokens: length, contextSize: managed.info.contextSize }
      })
    }
    tokenized.push(tokens)
    promptTokens.push(length)
  }
  const started = performance.now()
  const vectors: Float32Array[] = []
  for (const tokens of tokenized) {
    if (signal.aborted) throw signal.reason
    let vector: readonly number[]
    try {
      vector = (await context.getEmbeddingFor(tokens)).vector
    } catch (err) {
      throw new QvacError('INFERENCE_FAILED', 'embedding failed in the backend', { cause: err })
    }
    vectors.push(normalize(vector))
  }
  return { vectors, promptTokens, embedTime: performance.now() - started }
}

function normalize(vector: readonly number[]): Float32Array {
  let sum = 0
  for (const x of vector) sum += x * x
  const norm = Math.sqrt(sum)
  const out = new Float32Array(vector.length)
  for (let i = 0; i < vector.length; i++) out[i] = norm > 0 ? vector[i] / norm : 0
  return out
}
