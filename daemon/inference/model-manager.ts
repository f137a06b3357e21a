import crypto from 'node:crypto'
import os from 'node:os'
import fs from 'node:fs/promises'
import path from 'node:path'
import {
  GeneralChatWrapper,
  resolveChatWrapper,
  type ChatWrapper,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaModel
} from 'node-llama-cpp'
import { QvacError, isQvacError } from '../../shared/errors.ts'
import type { DownloadStats } from '../../shared/download-stats.ts'
import type { LoadModelRequest, LoadStats, ModelInfo, ModelStatus } from '../../shared/messages.ts'
import type { Logger } from '../log.ts'
import type { SourceAccess } from '../resolve/source-access.ts'
import { defaultThreads, type LlamaBackend } from './backend.ts'
import { SequencePool } from './sequence-pool.ts'
import { DEFAULT_RESOURCE_LIMITS, type ResourceLimits } from '../limits/defaults.ts'
import { MemoryBudget, estimateModel, limitError } from '../limits/memory-budget.ts'

export interface ManagedModel {
  modelType: 'llm'
  modelId: string
  source: string
  model: LlamaModel
  context: LlamaContext
  pool: SequencePool<LlamaContextSequence>
  chatWrapper: ChatWrapper
  info: ModelInfo
  loadStats: LoadStats
  loadedAt: number
  references: number
  /** The model file on disk (in the cache for downloaded sources). */
  file: string
  /** Last load or infer call for it (ms since the epoch): what the keep-alive measures. */
  lastUsedAt: number
  /** Gives back the model's share of the memory budget. */
  releaseMemory(): void
}

/** A model loaded with modelType 'embedding': one embedding context, its calls queued in turn. */
export interface EmbeddingModel extends Omit<ManagedModel, 'modelType' | 'context' | 'pool' | 'chatWrapper'> {
  modelType: 'embedding'
  context: LlamaEmbeddingContext
  pool: SequencePool<LlamaEmbeddingContext>
}

export type LoadedModel = ManagedModel | EmbeddingModel
const MODEL_TYPES = ['llm', 'embedding']

/** Gets a model file on local disk, measured (the daemon's resolver). */
export type ResolveModelFile = (
  source: string,
  opts: { signal: AbortSignal; access?: SourceAccess }
) => Promise<{ path: string; stats: DownloadStats }>

const GGUF_MAGIC = Buffer.from('GGUF')

interface ModelSettings {
  contextSize?: number
  threads: number
  gpu: boolean
  sequences: number
  maxQueueDepth: number
}

/**
 * The loaded models. One instance per file and configuration, reference-counted: loading the same
 * source with the same config again returns the same model, concurrent loads share one, and the
 * model is freed when the last reference is unloaded and its streams have finished.
 */
export class ModelManager {
  private readonly backend: LlamaBackend
  private readonly resolve: ResolveModelFile
  private readonly log: Logger
  private readonly maxQueueDepth: number
  private readonly threads: number
  private readonly limits: ResourceLimits
  private readonly memory: MemoryBudget
  private readonly models = new Map<string, LoadedModel>()
  private readonly loading = new Map<string, Promise<LoadedModel>>()

  constructor(opts: {
    backend: LlamaBackend
    resolve: ResolveModelFile
    log: Logger
    threads?: number
    maxQueueDepth?: number
    limits?: Partial<ResourceLimits>
  }) {
    this.backend = opts.backend
    this.resolve = opts.resolve
    this.log = opts.log
    this.threads = opts.threads ?? defaultThreads()
    this.maxQueueDepth = opts.maxQueueDepth ?? 32
    this.limits = { ...DEFAULT_RESOURCE_LIMITS, ...opts.limits }
    this.memory = new MemoryBudget({ maxMemory: this.limits.maxMemory, headroom: this.limits.memoryHeadroom })
  }

  /** Bytes the loaded models hold by their estimates (what --max-memory counts). */
  get reservedMemory(): number {
    return this.memory.reserved
  }

  /** `access`: what the caller's source may reach (the daemon's source policy for this caller). */
  async load(request: LoadModelRequest, signal: AbortSignal, access?: SourceAccess): Promise<{ model: LoadedModel; stats: LoadStats }> {
    const started = performance.now()
    if (!MODEL_TYPES.includes(request.modelType)) {
      throw new QvacError('UNSUPPORTED_MODEL_TYPE', `model type "${request.modelType}" is not supported (supported: ${MODEL_TYPES.join(', ')})`)
    }
    // Checked before the source is fetched: a config out of bounds costs nothing.
    const config = this.settings(request.config)
    const modelType = request.modelType as LoadedModel['modelType']
    const resolved = await this.resolve(request.source, { signal, access })
    const modelId = crypto
      .createHash('sha256')
      .update(JSON.stringify([resolved.path, config, modelType]))
      .digest('hex')
      .slice(0, 16)

    let managed = this.models.get(modelId)
    let initialized = 0
    if (!managed) {
      let pending = this.loading.get(modelId)
      if (!pending) {
        if (this.models.size + this.loading.size >= this.limits.maxModels) {
          throw limitError(`${this.limits.maxModels} models are loaded, the daemon's limit; unload one first`, {
            limit: 'max-models',
            maxModels: this.limits.maxModels
          })
        }
        pending = this.open(modelId, modelType, request.source, resolved.path, config, signal)
        this.loading.set(modelId, pending)
        pending.then(
          (m) => this.models.set(modelId, m),
          () => {}
        ).finally(() => this.loading.delete(modelId))
      }
      managed = await pending
      initialized = managed.loadStats.modelInitializationTime
    }
    managed.references++
    managed.lastUsedAt = Date.now()

    const d = resolved.stats
    const stats: LoadStats = {
      totalLoadTime: performance.now() - started,
      modelInitializationTime: initialized,
      downloadTime: d.downloadTime,
      totalBytesDownloaded: d.totalBytesDownloaded,
      downloadSpeedBps: d.downloadSpeedBps,
      checksumValidationTime: d.checksumValidationTime,
      sourceType: d.sourceType,
      cacheHit: d.cacheHit
    }
    if (initialized > 0) managed.loadStats = stats
    return { model: managed, stats }
  }

  /** The request's config with defaults, or a typed refusal: nothing out of the daemon's bounds is tried. */
  private settings(requested: LoadModelRequest['config']): ModelSettings {
    const { maxContext, maxSequences } = this.limits
    const config: ModelSettings = {
      contextSize: requested.contextSize,
      threads: requested.threads ?? this.threads,
      gpu: requested.gpu ?? false,
      sequences: requested.sequences ?? 1,
      maxQueueDepth: requested.maxQueueDepth ?? this.maxQueueDepth
    }
    const bounded = (field: string, value: number, min: number, max: number, limit: string) => {
      if (value < min) throw new QvacError('INVALID_ARGUMENT', `${field} must be at least ${min}, got ${value}`, { details: { field } })
      if (value > max) throw limitError(`${field} ${value} is over the daemon's limit of ${max}`, { field, limit, max })
    }
    if (config.contextSize !== undefined) bounded('contextSize', config.contextSize, 1, maxContext, 'max-context')
    bounded('sequences', config.sequences, 1, maxSequences, 'max-sequences')
    bounded('threads', config.threads, 1, Math.max(this.threads, os.availableParallelism()), 'threads')
    // A load may shorten the daemon's queue, not lengthen it.
    bounded('maxQueueDepth', config.maxQueueDepth, 0, this.maxQueueDepth, 'max-queue-depth')
    return config
  }

  /** A loaded LLM; an embedding model here is INVALID_ARGUMENT (it cannot generate). */
  get(modelId: string): ManagedModel {
    const model = this.find(modelId)
    if (model.modelType !== 'llm') throw wrongType(modelId, model.modelType, 'llm')
    return model
  }

  /** A loaded embedding model; an LLM here is INVALID_ARGUMENT (load it with modelType 'embedding'). */
  getEmbedding(modelId: string): EmbeddingModel {
    const model = this.find(modelId)
    if (model.modelType !== 'embedding') throw wrongType(modelId, model.modelType, 'embedding')
    return model
  }

  private find(modelId: string): LoadedModel {
    const model = this.models.get(modelId)
    if (!model) throw new QvacError('MODEL_NOT_FOUND', `no model loaded with id ${modelId}`, { details: { modelId } })
    model.lastUsedAt = Date.now()
    return model
  }

  /** Every loaded model, as the keep-alive and the cache see them. */
  loaded(): LoadedModel[] {
    return [...this.models.values()]
  }

  /** Frees a model whatever its references (keep-alive, `qvacd rm --force`); its streams end with MODEL_NOT_FOUND. */
  async evict(modelId: string): Promise<void> {
    const managed = this.find(modelId)
    managed.references = 1
    await this.unload(modelId)
  }

  /** Frees the models nobody used for `idleMs`; a model with streams running or queued counts as in use now. */
  async unloadIdle(idleMs: number, now = Date.now()): Promise<string[]> {
    const freed: string[] = []
    for (const m of this.loaded()) {
      if (m.pool.active > 0 || m.pool.queued > 0) m.lastUsedAt = now
      else if (now - m.lastUsedAt >= idleMs && this.models.get(m.modelId) === m) {
        await this.evict(m.modelId)
        freed.push(m.modelId)
      }
    }
    return freed
  }

  /** Drops one reference; at zero the model stops taking streams and is freed once they finish. */
  async unload(modelId: string): Promise<number> {
    const managed = this.find(modelId)
    managed.references--
    if (managed.references > 0) return managed.references
    this.models.delete(modelId)
    await managed.pool.drain(new QvacError('MODEL_NOT_FOUND', `model ${modelId} was unloaded`, { details: { modelId } }))
    await this.dispose(managed)
    return 0
  }

  list(): ModelStatus[] {
    return [...this.models.values()].map((m) => ({
      modelId: m.modelId,
      source: m.source,
      sizeBytes: m.info.sizeBytes,
      loadedAt: m.loadedAt,
      references: m.references,
      sequences: m.pool.size,
      activeStreams: m.pool.active,
      queuedStreams: m.pool.queued,
      totalLoadTime: m.loadStats.totalLoadTime
    }))
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.loading.values())
    const models = [...this.models.values()]
    this.models.clear()
    for (const m of models) await this.dispose(m)
  }

  private async open(
    modelId: string,
    modelType: LoadedModel['modelType'],
    source: string,
    file: string,
    config: ModelSettings,
    signal: AbortSignal
  ): Promise<LoadedModel> {
    const started = performance.now()
    const sizeBytes = await assertGguf(file)
    const llama = await this.backend.get()
    // Estimated on the header and reserved before any allocation: a load that would not fit is refused here.
    const estimate = await estimateModel(llama, file, {
      contextSize: config.contextSize,
      sequences: config.sequences,
      maxContext: this.limits.maxContext
    })
    const memory = this.memory.reserve(estimate.bytes)

    let model: LlamaModel
    try {
      model = await llama.loadModel({ modelPath: file, gpuLayers: config.gpu ? 'auto' : 0, loadSignal: signal })
    } catch (err) {
      memory.release()
      if (signal.aborted) throw signal.reason
      throw new QvacError('MODEL_LOAD_FAILED', `could not load ${path.basename(file)}: ${(err as Error).message}`, {
        cause: err
      })
    }
    if (modelType === 'embedding') {
      const opened = { model, contextSize: estimate.contextSize, memory, backendDevice: llama.gpu || 'cpu' }
      return this.openEmbedding(modelId, source, file, sizeBytes, opened, config, started)
    }
    let context: LlamaContext
    try {
      context = await model.createContext({
        contextSize: estimate.contextSize,
        sequences: config.sequences,
        threads: config.threads
      })
    } catch (err) {
      memory.release()
      await model.dispose()
      throw new QvacError('MODEL_LOAD_FAILED', `could not create a context: ${(err as Error).message}`, { cause: err })
    }
    memory.allocated()
    const sequences = Array.from({ length: config.sequences }, () => context.getSequence())
    const general = model.fileInfo.metadata.general
    const initTime = performance.now() - started
    this.log.info(`loaded ${source} as ${modelId} in ${initTime.toFixed(0)} ms`)

    return {
      modelType,
      modelId,
      source,
      model,
      context,
      pool: new SequencePool(sequences, config.maxQueueDepth),
      chatWrapper: resolveChatWrapper(model) ?? new GeneralChatWrapper(),
      info: {
        name: general.name ?? path.basename(file),
        architecture: general.architecture,
        sizeBytes,
        contextSize: context.contextSize,
        trainContextSize: model.trainContextSize,
        sequences: config.sequences,
        threads: context.currentThreads,
        backendDevice: llama.gpu || 'cpu'
      },
      ...freshlyLoaded(file, initTime, memory)
    }
  }

  private async openEmbedding(
    modelId: string,
    source: string,
    file: string,
    sizeBytes: number,
    opened: { model: LlamaModel; contextSize: number; memory: ReturnType<MemoryBudget['reserve']>; backendDevice: string },
    config: { threads: number; maxQueueDepth: number },
    started: number
  ): Promise<EmbeddingModel> {
    const { model, contextSize, memory, backendDevice } = opened
    let context: LlamaEmbeddingContext
    try {
      context = await model.createEmbeddingContext({ contextSize, threads: config.threads })
    } catch (err) {
      memory.release()
      await model.dispose()
      throw new QvacError('MODEL_LOAD_FAILED', `could not create an embedding context: ${(err as Error).message}`, { cause: err })
    }
    memory.allocated()
    const initTime = performance.now() - started
    this.log.info(`loaded ${source} as embedding model ${modelId} in ${initTime.toFixed(0)} ms`)
    const general = model.fileInfo.metadata.general
    return {
      modelType: 'embedding',
      modelId,
      source,
      model,
      context,
      pool: new SequencePool([context], config.maxQueueDepth),
      info: {
        name: general.name ?? path.basename(file),
        architecture: general.architecture,
        sizeBytes,
        contextSize,
        trainContextSize: model.trainContextSize,
        sequences: 1,
        threads: config.threads,
        backendDevice
      },
      ...freshlyLoaded(file, initTime, memory)
    }
  }

  private async dispose(m: LoadedModel): Promise<void> {
    try {
      await m.context.dispose()
      await m.model.dispose()
    } catch (err) {
      this.log.error(`disposing model ${m.modelId}`, err)
    } finally {
      m.releaseMemory()
    }
  }
}

/** A clear error for a file that is not a GGUF model, before the backend sees it. */
async function assertGguf(file: string): Promise<number> {
  let handle: fs.FileHandle | null = null
  try {
    handle = await fs.open(file, 'r')
    const { size } = await handle.stat()
    const magic = Buffer.alloc(4)
    await handle.read(magic, 0, 4, 0)
    if (!magic.equals(GGUF_MAGIC)) {
      // No size in the error: it would tell a remote peer about a file on this host.
      throw new QvacError('INVALID_MODEL_FILE', `${path.basename(file)} is not a GGUF model file`)
    }
    return size
  } catch (err) {
    if (isQvacError(err)) throw err
    throw new QvacError('MODEL_NOT_FOUND', `cannot read model file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err
    })
  } finally {
    await handle?.close()
  }
}

function wrongType(modelId: string, actual: string, wanted: string): QvacError {
  return new QvacError('INVALID_ARGUMENT', `model ${modelId} was loaded as ${actual}; this call needs modelType '${wanted}'`, {
    details: { modelId, modelType: actual }
  })
}

/** The bookkeeping every newly loaded model starts with, LLM or embedding. */
function freshlyLoaded(file: string, initTime: number, memory: { release: () => void }) {
  const now = Date.now()
  return { loadStats: initStats(initTime), loadedAt: now, references: 0, file, lastUsedAt: now, releaseMemory: memory.release }
}

/** Load stats of a model opened from a local file; the resolver's download figures are added later. */
function initStats(initTime: number): LoadStats {
  return {
    totalLoadTime: initTime,
    modelInitializationTime: initTime,
    downloadTime: 0,
    totalBytesDownloaded: 0,
    downloadSpeedBps: 0,
    checksumValidationTime: 0,
    sourceType: 'file',
    cacheHit: false
  }
}
