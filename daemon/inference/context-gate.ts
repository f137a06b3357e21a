import type { LlamaContext, LlamaContextSequence } from 'node-llama-cpp'

/**
 * Lets a stream that must erase its sequence's stale KV tail get node-llama-cpp's context-wide
 * lock without waiting for every other stream to finish. The batch dispatch holds that lock for as
 * long as any sequence keeps queueing decodes (`while (shouldHaveAnotherLoop)` in LlamaContext's
 * `dispatchPendingBatch`), so an erase queued behind it waited for the whole batch (one stream per
 * round about a second at 32 streams, BENCHMARKS.md). While an erase is pending, generating streams
 * park before queueing their next token: the dispatch loop runs dry within one round, the erase
 * runs, and every stream resumes, in arrival order.
 */
export class ContextGate {
  private erasing = 0
  private opened: Promise<void> | null = null
  private open: (() => void) | null = null

  /** How many times a stream waited at the gate (tests and stats read it: a count, not a time). */
  parked = 0

  /** Streams call this between tokens; it resolves at once unless an erase is pending. */
  pass(): Promise<void> | null {
    if (this.opened === null) return null
    this.parked++
    return this.opened
  }

  /** Keeps the prefix `tokens` of `sequence`'s KV cache and erases the rest, without starving. */
  async adapt(sequence: LlamaContextSequence, tokens: LlamaContextSequence['contextTokens']): Promise<void> {
    if (!needsErase(sequence, tokens)) return
    if (this.erasing++ === 0) this.opened = new Promise((resolve) => (this.open = resolve))
    try {
      await sequence.adaptStateToTokens(tokens, false)
    } finally {
      if (--this.erasing === 0) {
        this.open?.()
        this.opened = this.open = null
      }
    }
  }
}

/** Nothing to erase (a fresh sequence, or the whole cached state is a prefix of `tokens`): no lock needed. */
function needsErase(sequence: LlamaContextSequence, tokens: LlamaContextSequence['contextTokens']): boolean {
  return sequence.compareContextTokens(tokens).firstDifferentIndex < sequence.nextTokenIndex
}

/** Keeps the prefix `tokens` of `sequence`'s KV cache and erases the rest, taking the context lock only to erase. */
export async function keepPrefix(sequence: LlamaContextSequence, tokens: LlamaContextSequence['contextTokens']): Promise<void> {
  if (needsErase(sequence, tokens)) await sequence.adaptStateToTokens(tokens, false)
}

const gates = new WeakMap<LlamaContext, ContextGate>()

/** One gate per context, shared by all of its sequences. */
export function contextGate(sequence: LlamaContextSequence): ContextGate {
  let gate = gates.get(sequence.context)
  if (!gate) gates.set(sequence.context, (gate = new ContextGate()))
  return gate
}
