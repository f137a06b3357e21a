import type { QvacClient } from '../client/index.ts'
import { isQvacError, QvacError } from '../shared/errors.ts'

export type ModelKind = 'llm' | 'embedding'

export interface ModelSource {
  name: string
  source: string
}

export interface ListedModel {
  id: string
  object: 'model'
  created: number
  owned_by: string
}

/** `--model NAME=SOURCE` → { name, source }. */
export function parseModelFlag(flag: string): ModelSource {
  const at = flag.indexOf('=')
  if (at < 1 || at === flag.length - 1) throw new QvacError('INVALID_ARGUMENT', `--model takes NAME=SOURCE, got "${flag}"`)
  return { name: flag.slice(0, at), source: flag.slice(at + 1) }
}

/**
 * OpenAI model names → daemon model ids. A name from `--model` is loaded on first use (as an LLM
 * for completions, as an embedding model for embeddings: the same file serves both) and reloaded
 * if the daemon forgot it (restarted); any other name is taken as a model id already loaded on the
 * daemon, so `GET /v1/models` and the requests agree.
 */
export class ModelTable {
  private readonly client: QvacClient
  private readonly sources = new Map<string, string>()
  private readonly loaded = new Map<string, Promise<string>>()
  readonly created = Math.floor(Date.now() / 1000)

  constructor(client: QvacClient, sources: ModelSource[]) {
    this.client = client
    for (const { name, source } of sources) this.sources.set(name, source)
  }

  /** The daemon's id for `name`, loading it when it is a configured source not loaded yet. */
  resolve(name: string, kind: ModelKind, timeout?: number): Promise<string> {
    const source = this.sources.get(name)
    if (source === undefined) return Promise.resolve(name)
    const key = `${kind}:${name}`
    let id = this.loaded.get(key)
    if (!id) {
      id = this.client.loadModel({ source, modelType: kind }, { timeout }).then((r) => r.modelId)
      this.loaded.set(key, id)
      id.catch(() => this.loaded.delete(key))
    }
    return id
  }

  /** Called when the daemon answered MODEL_NOT_FOUND for a name: the next use loads it again. */
  forget(name: string, kind: ModelKind): void {
    this.loaded.delete(`${kind}:${name}`)
  }

  /** The configured names, then the daemon's loaded models by id (those not behind a name). */
  async list(timeout?: number): Promise<ListedModel[]> {
    const status = await this.client.status({ timeout })
    const named = new Set<string>()
    for (const id of this.loaded.values()) named.add(await id.catch(() => ''))
    const entry = (id: string): ListedModel => ({ id, object: 'model', created: this.created, owned_by: 'qvacd' })
    return [
      ...[...this.sources.keys()].map(entry),
      ...status.models.filter((m) => !named.has(m.modelId)).map((m) => ({ ...entry(m.modelId), created: Math.floor(m.loadedAt / 1000) }))
    ]
  }
}

/** True when a daemon error means the named model is gone there (so the table should reload it). */
export function isModelGone(err: unknown): boolean {
  return isQvacError(err, 'MODEL_NOT_FOUND')
}
