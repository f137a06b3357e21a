import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { LlamaContext, LlamaContextSequence, LlamaGrammarEvaluationState, Token } from 'node-llama-cpp'

// node-llama-cpp's own parts this file drives: the addon's batch calls and the bookkeeping its
// sequences keep (the version is pinned in package.json and patched at install).
interface AddonSampler {
  applyConfig(config: object): void
  dispose(): void
}
interface AddonContext {
  initBatch(size: number): void
  addToBatch(sequenceId: number, firstTokenIndex: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array
  decodeBatch(): Promise<void>
  sampleToken(batchLogitIndex: number, sampler: AddonSampler): Promise<Token | -1>
}
interface ContextInternals {
  _ctx: AddonContext
  _llama: { gpu: string | false; _bindings: { AddonSampler: new (model: unknown) => AddonSampler } }
  _backendContextDisposeGuard: { createPreventDisposalHandle(): { dispose(): void } }
  batchSize: number
  contextSize: number
  totalSequences: number
  disposed: boolean
}
interface SequenceInternals {
  _sequenceId: number
  _nextTokenIndex: number
  _contextTokens: Token[]
  _loadedTokenPredictions: unknown[]
  _resolveSamplerConfig(options: object): object
  needsCheckpoints: boolean
}

export interface DecodeOptions {
  temperature: number
  topP: number
  topK: number
  seed: number
  grammarEvaluationState?: LlamaGrammarEvaluationState
}

/** The lock node-llama-cpp takes for a context's KV cache: its own copy of lifecycle-utils, so the lock is shared. */
const { withLock } = (await import(
  pathToFileURL(createRequire(fileURLToPath(import.meta.resolve('node-llama-cpp'))).resolve('lifecycle-utils')).href
)) as typeof import('lifecycle-utils')

interface Step {
  sequence: SequenceInternals
  tokens: Token[]
  /** Tokens of `tokens` already decoded (a prompt longer than a batch takes several rounds). */
  done: number
  sampler: AddonSampler
  resolve(token: Token): void
  reject(err: unknown): void
}

/**
 * Decodes all of a context's sequences in shared batches and samples each one's next token: the
 * part of node-llama-cpp's `sequence.evaluate` a server needs, without its per-token machinery.
 * Measured in-process on the tiny bench model (one stream, 1 thread), node-llama-cpp's evaluate
 * loop spent 150–300 µs of main-thread CPU per token against 50 µs here (1,700–3,200 vs 8,400
 * tokens/s): the locks, disposal guards, token meters, sampler reconfiguration and promise chains
 * it runs per token. Same addon calls, same order, same sequence bookkeeping (so
 * `adaptStateToTokens`, prefix reuse and erasing keep working), the same context lock per round.
 *
 * Rounds run back to back while any sequence waits: after a round, the streams whose tokens were
 * sampled get a few microtask turns to queue their next step, so concurrent streams share one
 * batch without a turn of the event loop per token. Single-token steps (generation) go first,
 * then prompts fill what is left in arrival order, split across rounds when longer than the
 * batch: a long prompt never holds back running streams by more than one round. The lock is taken per round, never held across rounds,
 * so an erase waiting for it (a stream starting on a used sequence) runs after at most one round.
 */
export class BatchDecoder {
  private readonly context: ContextInternals
  private readonly queue: Step[] = []
  private scheduled = false
  private running = false
  /**
   * Samplers that served greedy streams, kept for the next ones. A new addon sampler allocates and
   * zeroes a candidate array of the whole vocabulary (384 KiB for 32Ki tokens: fresh pages, faulted
   * in and cleared by the kernel) and frees it at the end of the stream: 8% of the daemon's main
   * thread at 32 streams of 64 tokens (perf). A greedy sampler keeps no state between streams (no
   * random draw, grammar, penalties or biases), so one applyConfig makes it as good as new.
   */
  private readonly greedySamplers: AddonSampler[] = []
  /** Batches decoded so far (tests read it: a count, not a time). */
  rounds = 0

  constructor(context: LlamaContext) {
    this.context = context as unknown as ContextInternals
    context.onDispose.createListener(() => {
      for (const sampler of this.greedySamplers.splice(0)) sampler.dispose()
    })
  }

  /** Samplers reused by greedy streams (tests read it). */
  get pooledSamplers(): number {
    return this.greedySamplers.length
  }

  /** Evaluates `tokens` on `sequence`, then yields sampled tokens until end of generation. */
  async *evaluate(sequence: LlamaContextSequence, tokens: Token[], options: DecodeOptions): AsyncGenerator<Token, void, undefined> {
    const seq = sequence as unknown as SequenceInternals
    const greedy = options.temperature === 0 && options.grammarEvaluationState === undefined
    const sampler = (greedy ? this.greedySamplers.pop() : undefined) ?? this.newSampler(sequence)
    let reusable = greedy
    try {
      sampler.applyConfig(seq._resolveSamplerConfig(options))
      let input = tokens
      for (;;) {
        const token = await this.step(seq, input, sampler)
        if (sequence.model.isEogToken(token)) return
        yield token
        input = [token]
      }
    } catch (err) {
      reusable = false
      throw err
    } finally {
      // No step is in flight: the generator only stops at a yield or on an error.
      if (reusable && !this.context.disposed && this.greedySamplers.length < this.context.totalSequences) this.greedySamplers.push(sampler)
      else sampler.dispose()
    }
  }

  private newSampler(sequence: LlamaContextSequence): AddonSampler {
    const { AddonSampler } = this.context._llama._bindings
    return new AddonSampler((sequence.model as unknown as { _model: unknown })._model)
  }

  private step(sequence: SequenceInternals, tokens: Token[], sampler: AddonSampler): Promise<Token> {
    if (tokens.length === 0) return Promise.reject(new Error('nothing to evaluate'))
    if (sequence._nextTokenIndex + tokens.length > this.context.contextSize - 1) return Promise.reject(new Error('the context is full'))
    return new Promise((resolve, reject) => {
      this.queue.push({ sequence, tokens, done: 0, sampler, resolve, reject })
      this.schedule()
    })
  }

  private schedule(): void {
    if (this.scheduled || this.running || this.queue.length === 0) return
    this.scheduled = true
    // The first round waits one turn of the event loop, so that streams starting together share it.
    setImmediate(() => {
      this.scheduled = false
      void this.run()
    })
  }

  /** Rounds back to back while any step waits; between rounds, the lock is free for an erase. */
  private async run(): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0) {
        const sampled = await this.round()
        await this.gather(this.queue.length + sampled)
      }
    } catch (err) {
      this.failAll(err)
    } finally {
      this.running = false
    }
    this.schedule()
  }

  /**
   * Lets the streams whose tokens were just sampled queue their next step (a few turns of the
   * microtask queue each: our generator, the stream's loop, back), so the next round takes them all
   * without a turn of the event loop per token. Streams that wait for something else (credit, a
   * slow reader) join a later round.
   */
  private async gather(expected: number): Promise<void> {
    for (let hops = 0; hops < GATHER_HOPS && this.queue.length < expected; hops++) await null
  }

  private async round(): Promise<number> {
    const guard = this.context._backendContextDisposeGuard.createPreventDisposalHandle() // throws once disposed
    try {
      return await withLock([this.context, 'context'], () => this.decode())
    } finally {
      guard.dispose()
    }
  }

  /** One batch: decoded, then a token sampled for every step it completes; returns how many it completed. */
  private async decode(): Promise<number> {
    const batch = this.pick()
    if (batch.length === 0) return 0
    this.rounds++
    const ctx = this.context._ctx
    ctx.initBatch(batch.reduce((n, b) => n + b.count, 0))
    const logitAt: number[] = []
    for (const { step, count } of batch) {
      // addToBatch copies the tokens into the batch at once: one token's array serves every call.
      const chunk = count === 1 ? ONE_TOKEN : new Uint32Array(count)
      for (let k = 0; k < count; k++) chunk[k] = step.tokens[step.done + k]
      const last = step.done + count === step.tokens.length
      const logits = ctx.addToBatch(step.sequence._sequenceId, step.sequence._nextTokenIndex, chunk, last ? (LAST_INDEX[count] ?? Uint32Array.of(count - 1)) : NONE)
      logitAt.push(last ? logits[0] : -1)
    }
    try {
      await ctx.decodeBatch()
    } catch (err) {
      for (const { step } of batch) this.fail(step, err)
      return 0
    }
    const samplings: Promise<void>[] = []
    batch.forEach(({ step, count }, i) => {
      const seq = step.sequence
      for (let k = step.done; k < step.done + count; k++) seq._contextTokens.push(step.tokens[k])
      seq._nextTokenIndex += count
      step.done += count
      if (logitAt[i] < 0) return
      this.queue.splice(this.queue.indexOf(step), 1)
      samplings.push(
        ctx.sampleToken(logitAt[i], step.sampler).then(
          (token) => (token === -1 ? step.reject(new Error('failed to sample the next token')) : step.resolve(token as Token)),
          step.reject
        )
      )
    })
    // Every sampling reads this round's logits: all finish before the next decode replaces them.
    await Promise.all(samplings)
    return samplings.length
  }

  /** This round's share of the batch for each waiting step: generation tokens first, then prompts. */
  private pick(): { step: Step; count: number }[] {
    let room = this.context.batchSize
    const batch: { step: Step; count: number }[] = []
    for (const step of this.queue) {
      if (room === 0) break
      if (step.tokens.length - step.done !== 1) continue
      batch.push({ step, count: 1 })
      room--
    }
    for (const step of this.queue) {
      if (room === 0) break
      const left = step.tokens.length - step.done
      if (left === 1) continue
      const count = Math.min(left, room)
      batch.push({ step, count })
      room -= count
    }
    return batch
  }

  private fail(step: Step, err: unknown): void {
    const at = this.queue.indexOf(step)
    if (at >= 0) this.queue.splice(at, 1)
    step.reject(err)
  }

  private failAll(err: unknown): void {
    for (const step of this.queue.splice(0)) step.reject(err)
  }
}

/** Microtask turns to wait for sampled streams to queue their next step (each needs about five). */
const GATHER_HOPS = 16
const NONE = new Uint32Array(0)
const ONE_TOKEN = new Uint32Array(1)
/** `[count - 1]`, the logit index of a chunk whose last token is sampled, made once for short chunks. */
const LAST_INDEX: Uint32Array[] = Array.from({ length: 9 }, (_, count) => Uint32Array.of(Math.max(0, count - 1)))

const decoders = new WeakMap<LlamaContext, BatchDecoder>()

/**
 * The context's decoder, or null where node-llama-cpp's own evaluate must run: sequences that need
 * checkpoints (recurrent and hybrid models restore state from them) and Vulkan (node-llama-cpp
 * serializes decodes across contexts there).
 */
export function batchDecoder(sequence: LlamaContextSequence): BatchDecoder | null {
  const seq = sequence as unknown as SequenceInternals
  const context = sequence.context
  if (seq.needsCheckpoints || (context as unknown as ContextInternals)._llama.gpu === 'vulkan') return null
  if (seq._loadedTokenPredictions.length > 0) return null
  let decoder = decoders.get(context)
  if (!decoder) decoders.set(context, (decoder = new BatchDecoder(context)))
  return decoder
}
