import os from 'node:os'
import { GgufInsights, readGgufFileInfo, type Llama } from 'node-llama-cpp'
import { QvacError } from '../../shared/errors.ts'

const MiB = 1024 * 1024
// Not needed for the estimate, and the bulk of the header (reading them stalled the event loop).
const VOCABULARY_KEYS = ['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type', 'tokenizer.ggml.merges']

/** A model's size as node-llama-cpp estimates it, with the context size it will get. */
export interface ModelEstimate {
  contextSize: number
  trainContextSize: number
  /** Weights + context (KV cache, compute buffers) for all sequences, in bytes of RAM. */
  bytes: number
}

/**
 * node-llama-cpp's own resolver (GgufInsights) on the file's header: what the weights and a
 * context of this size would take, before anything is allocated.
 */
export async function estimateModel(
  llama: Llama,
  file: string,
  opts: { contextSize: number | undefined; sequences: number; maxContext: number }
): Promise<ModelEstimate> {
  let insights: GgufInsights
  try {
    insights = await GgufInsights.from(
      await readGgufFileInfo(file, { sourceType: 'filesystem', ignoreKeys: VOCABULARY_KEYS, logWarnings: false }),
      llama
    )
  } catch (err) {
    throw new QvacError('INVALID_MODEL_FILE', `the model file's header cannot be read: ${(err as Error).message}`)
  }
  const trainContextSize = insights.trainContextSize ?? opts.maxContext
  const contextSize = opts.contextSize ?? Math.min(trainContextSize, opts.maxContext)
  const weights = await insights.estimateModelResourceRequirementsV2({ gpuLayers: 0 })
  const context = await insights.estimateContextResourceRequirementsV2({
    contextSize,
    modelGpuLayers: 0,
    sequences: opts.sequences
  })
  return { contextSize, trainContextSize, bytes: weights.cpuRam + context.cpuRam }
}

/**
 * The memory the daemon's models may take. A load reserves its estimate before allocating and
 * keeps it while loaded; it is refused when the models together would pass `maxMemory`, or when
 * the host would be left with less than `headroom` free. Reserving is synchronous, so concurrent
 * loads cannot both pass the same check.
 */
export class MemoryBudget {
  private readonly maxMemory: number
  private readonly headroom: number
  private reservedBytes = 0
  /** Reserved but not yet allocated (loads in progress): not yet visible in free memory. */
  private pendingBytes = 0

  constructor(opts: { maxMemory: number; headroom: number }) {
    this.maxMemory = opts.maxMemory
    this.headroom = opts.headroom
  }

  get reserved(): number {
    return this.reservedBytes
  }

  /** Reserves `bytes` or throws RESOURCE_LIMIT_EXCEEDED; `allocated()` once loaded, `release()` when freed. */
  reserve(bytes: number): { allocated(): void; release(): void } {
    if (this.maxMemory > 0 && this.reservedBytes + bytes > this.maxMemory) {
      throw limitError(
        `the model needs about ${mib(bytes)} MiB; with ${mib(this.reservedBytes)} MiB in use that passes the daemon's ${mib(this.maxMemory)} MiB limit`,
        { neededBytes: bytes, limit: 'max-memory' }
      )
    }
    const free = os.freemem() - this.pendingBytes - this.headroom
    if (bytes > free) {
      throw limitError(`the model needs about ${mib(bytes)} MiB; the host cannot spare that much memory`, {
        neededBytes: bytes,
        limit: 'free-memory'
      })
    }
    this.reservedBytes += bytes
    this.pendingBytes += bytes
    let pending = true
    let held = true
    const settle = () => {
      if (pending) this.pendingBytes -= bytes
      pending = false
    }
    return {
      allocated: settle,
      release: () => {
        settle()
        if (held) this.reservedBytes -= bytes
        held = false
      }
    }
  }
}

export function limitError(message: string, details: Record<string, string | number>): QvacError {
  return new QvacError('RESOURCE_LIMIT_EXCEEDED', message, { details })
}

function mib(bytes: number): number {
  return Math.ceil(bytes / MiB)
}
