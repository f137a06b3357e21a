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
  /** Our patch: decodeBatch, then the plain greedy token at each batch logit index, picked on the context's thread (-1: no logits). */
  decodeBatchGreedy?(logitIndexes: Uint32Array): Promise<Int32Array>
  sampleToken(batchLogitIndex: number, sampler: AddonSampler): Promise<Token | -1>
}
interface ContextInternals {
  _ctx: AddonContext
  _llama: { gpu: string | false; _bindings: { AddonSampler: new (model: unknown) => AddonSampler } }
  _backendContextDisposeGuard: { createPreventDisposalHandle(): { dispose(): void }; _hasAwaitingDisposeLocks(): boolean }
  batchSize: number
  contextSize: number
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
  /** null: plain greedy, picked by the addon right after the decode (decodeBatchGreedy). */
  sampler: AddonSampler | null
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
   * Whether the addon picks plain greedy tokens itself, on the context's thread right after the
   * decode (our patch's decodeBatchGreedy): the logits are still in that core's cache, and a greedy
   * stream needs no addon sampler (whose creation zeroes a vocabulary-sized candidate array), no
   * sampling call and no promise of its own per token. Without the patch, every stream samples.
   */
  readonly picksGreedy: boolean
  /** Batches decoded so far (tests read it: a count, not a time). */
  rounds = 0

  constructor(context: LlamaContext) {
    this.context = context as unknown as ContextInternals
    this.picksGreedy = typeof this.context._ctx.decodeBatchGreedy === 'function'
  }

  /** Evaluates `tokens` on `sequence`, then yields sampled tokens until end of generation. */
  async *evaluate(sequence: LlamaContextSequence, tokens: Token[], options: DecodeOptions): AsyncGenerator<Token, void, undefined> {
    const seq = sequence as unknown as SequenceInternals
    // Plain greedy: temperature 0 and no grammar (DecodeOptions carries no penalties or biases).
    const greedy = options.temperature === 0 && options.grammarEvaluationState === undefined
    const sampler = greedy && this.picksGreedy ? null : this.newSampler(sequence)
    try {
      sampler?.applyConfig(seq._resolveSamplerConfig(options))
      let input = tokens
      for (;;) {
        const token = await this.step(seq, input, sampler)
        if (sequence.model.isEogToken(token)) return
        yield token
        input = [token]
      }
    } finally {
      // No step is in flight: the generator only stops at a yield or on an error.
      sampler?.dispose()
    }
  }

  private newSampler(sequence: LlamaContextSequence): AddonSampler {
    const { AddonSampler } = this.context._llama._bindings
    return new AddonSampler((sequence.model as unknown as { _model: unknown })._model)
  }

  private step(sequence: SequenceInternals, tokens: Token[], sampler: AddonSampler | null): Promise<Token> {
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

  /**
   * Rounds back to back while any step waits; between rounds, the lock is free for an erase. The
   * context's disposal is held off by one handle for the whole run, not one per round (making one
   * walks the model's and llama's guards: 4% of the daemon's main thread on one stream), and the
   * handle is given up as soon as a dispose waits for it, so the dispose runs after at most one round.
   */
  private async run(): Promise<void> {
    this.running = true
    const guard = this.context._backendContextDisposeGuard
    let hold: { dispose(): void } | null = null
    try {
      while (this.queue.length > 0) {
        if (hold && guard._hasAwaitingDisposeLocks()) {
          hold.dispose()
          hold = null
        }
        hold ??= guard.createPreventDisposalHandle() // throws once disposed or disposing
        const sampled = await withLock([this.context, 'context'], () => this.decode())
        await this.gather(this.queue.length + sampled)
      }
    } catch (err) {
      this.failAll(err)
    } finally {
      hold?.dispose()
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

  /** One batch: decoded, then a token sampled for every step it completes; returns how many it completed. */
  private async decode(): Promise<number> {
    const batch = this.pick()
    if (batch.length === 0) return 0
    this.rounds++
    const ctx = this.context._ctx
    ctx.initBatch(batch.reduce((n, b) => n + b.count, 0))
    const logitAt: number[] = []
    /** Batch logit indexes whose plain greedy token the addon picks, in batch order. */
    const picks: number[] = []
    for (const { step, count } of batch) {
      // addToBatch copies the tokens into the batch at once: one token's array serves every call.
      const chunk = count === 1 ? ONE_TOKEN : new Uint32Array(count)
      for (let k = 0; k < count; k++) chunk[k] = step.tokens[step.done + k]
      const last = step.done + count === step.tokens.length
      const logits = ctx.addToBatch(step.sequence._sequenceId, step.sequence._nextTokenIndex, chunk, last ? (LAST_INDEX[count] ?? Uint32Array.of(count - 1)) : NONE)
      logitAt.push(last ? logits[0] : -1)
      if (last && step.sampler === null) picks.push(logits[0])
    }
    let picked: Int32Array | undefined
    try {
      if (picks.length > 0) picked = await ctx.decodeBatchGreedy!(Uint32Array.from(picks))
      else await ctx.decodeBatch()
    } catch (err) {
      for (const { step } of batch) this.fail(step, err)
      return 0
    }
    const samplings: Promise<void>[] = []
    let completed = 0
    let pick = 0
    batch.forEach(({ step, count }, i) => {
      const seq = step.sequence
      for (let k = step.done; k < step.done + count; k++) seq._contextTokens.push(step.tokens[k])
      seq._nextTokenIndex += count
      step.done += count
      if (logitAt[i] < 0) return
      this.queue.splice(this.queue.indexOf(step), 1)
      completed++
      if (step.sampler === null) return settle(step, picked![pick++] as Token | -1)
      samplings.push(ctx.sampleToken(logitAt[i], step.sampler).then((token) => settle(step, token), step.reject))
    })
    // Every sampling reads this round's logits: all finish before the next decode replaces them.
    if (samplings.length > 0) await Promise.all(samplings)
    return completed
  }

  /**
   * This round's share of the batch for each waiting step: generation tokens first, then prompts;
   * then ordered by sequence id. With more than one sequence, llama.cpp keeps a KV stream per
   * sequence and cuts a batch into micro-batches of *consecutive, increasing* sequence ids
   * (`split_equal(..., sequential = true)` in llama-kv-cache.cpp), and every micro-batch is a pass
   * over all the weights: 32 streams queued as 5..31, 0..4 took two passes a round (28–31 → 34–37
   * ms per round on the 241 MB model). In id order, streams on sequences 0..N-1 take one pass, as
   * llama-server's slots do; the pool hands out the lowest free sequence to keep them so.
   */
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
    return batch.sort((x, y) => x.step.sequence._sequenceId - y.step.sequence._sequenceId)
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

function settle(step: Step, token: Token | -1): void {
  if (token === -1) step.reject(new Error('failed to sample the next token'))
  else step.resolve(token)
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
