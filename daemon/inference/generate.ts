import type { LlamaContextSequence, LlamaGrammarEvaluationState, LlamaModel, Token } from 'node-llama-cpp'
import { QvacError } from '../../shared/errors.ts'
import type { StopReason } from '../../shared/messages.ts'
import type { OutboundStream } from '../stream/outbound-stream.ts'
import { batchDecoder, type DecodeOptions } from './batch-decoder.ts'
import { contextGate, keepPrefix } from './context-gate.ts'
import type { PreparedPrompt } from './prompt.ts'
import { StopMatcher } from './stop-matcher.ts'
import { TokenText } from './token-text.ts'

export interface SamplingParams {
  maxTokens: number
  temperature: number
  topP: number
  topK: number
  seed: number
  stop: string[]
  /** Constrains sampling (JSON schema or GBNF); node-llama-cpp accepts each sampled token into it. */
  grammar?: LlamaGrammarEvaluationState
}

export interface GenerationResult {
  stopReason: StopReason
  promptTokens: number
  generatedTokens: number
  /** performance.now() when the first token was ready, 0 if none was. */
  firstTokenAt: number
  /** From the start of prompt evaluation to the first token. */
  promptEvalTime: number
  /** Decode rate after the first token. */
  tokensPerSecond: number
  /** Time between tokens as the daemon produced them (ms), waits for credit included. */
  interTokenLatencyP50: number
  interTokenLatencyP95: number
}

/**
 * Generates on one context sequence, token by token, pulling the next token only when the stream
 * may take it: a slow reader pauses generation, and an abort (cancel, disconnect, deadline,
 * shutdown) stops it within one token. Returns why it stopped; `cancelled` means `signal` fired.
 */
export async function generate(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  prompt: PreparedPrompt,
  params: SamplingParams,
  out: OutboundStream,
  signal: AbortSignal
): Promise<GenerationResult> {
  // Prompt caching, as llama.cpp's server and LlamaCompletion do: keep the KV cache of the prefix
  // this sequence already holds and evaluate only the rest (at least the last token, to sample).
  const input = prompt.tokens.slice(0, -1)
  // The batch decoder takes the context lock per round, so an erase waits one round at most; only
  // node-llama-cpp's evaluate, whose dispatch holds the lock round after round, needs the gate.
  const decoder = batchDecoder(sequence)
  const gate = decoder ? null : contextGate(sequence)
  if (gate) await gate.adapt(sequence, input)
  else await keepPrefix(sequence, input)
  const pending = [...input.slice(sequence.nextTokenIndex), ...prompt.tokens.slice(-1)]
  const text = new TokenText(model, prompt.tokens)
  const stops = new StopMatcher([...params.stop, ...prompt.stops])
  const maxTokens = Math.min(params.maxTokens, sequence.contextSize - prompt.tokens.length)

  const start = performance.now()
  let first = 0
  let last = 0
  let generated = 0
  const gaps: number[] = []
  let stopReason: StopReason | null = null
  out.state = 'generating'

  try {
    const options: DecodeOptions = {
      temperature: params.temperature,
      topP: params.topP,
      topK: params.topK,
      seed: params.seed,
      grammarEvaluationState: params.grammar
    }
    const tokens: AsyncIterable<Token> = decoder ? decoder.evaluate(sequence, pending, options) : sequence.evaluate(pending, options)
    for await (const token of tokens) {
      const now = performance.now()
      if (generated++ === 0) first = now
      else gaps.push(now - last)
      last = now
      const { emit, stopped } = stops.push(text.push(token))
      const waiting = out.write(emit, [token], signal)
      if (waiting) await waiting
      if (stopped) stopReason = 'stop'
      else if (signal.aborted) stopReason = 'cancelled'
      else if (generated >= maxTokens) stopReason = 'length'
      if (stopReason) break
      const parked = gate?.pass()
      if (parked) await parked
    }
    stopReason ??= signal.aborted ? 'cancelled' : 'eos'
    if (stopReason !== 'stop' && stopReason !== 'cancelled') await out.write(stops.push(text.flush()).emit + stops.flush(), [], signal)
    if (stopReason !== 'cancelled') await out.end(signal)
  } catch (err) {
    if (!signal.aborted) throw new QvacError('INFERENCE_FAILED', 'generation failed in the backend', { cause: err })
    stopReason = 'cancelled'
  }

  return {
    stopReason,
    promptTokens: prompt.tokens.length,
    generatedTokens: generated,
    firstTokenAt: first,
    promptEvalTime: generated > 0 ? first - start : 0,
    tokensPerSecond: generated > 1 && last > first ? ((generated - 1) * 1000) / (last - first) : 0,
    ...interTokenLatency(gaps)
  }
}

function interTokenLatency(gaps: number[]): { interTokenLatencyP50: number; interTokenLatencyP95: number } {
  if (gaps.length === 0) return { interTokenLatencyP50: 0, interTokenLatencyP95: 0 }
  gaps.sort((a, b) => a - b)
  const at = (q: number) => gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))]
  return { interTokenLatencyP50: at(0.5), interTokenLatencyP95: at(0.95) }
}
