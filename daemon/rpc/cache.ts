import { QvacError } from '../../shared/errors.ts'
import type { CacheKeeper } from '../cache/cache-keeper.ts'
import type { KeepAlive } from '../inference/keep-alive.ts'
import type { ModelManager } from '../inference/model-manager.ts'
import type { CallContext, Handler } from './router.ts'

/** The cache names the host's files and removing frees its disk: the operator's alone (control socket). */
function assertOperator(ctx: CallContext): void {
  if (ctx.caller.publicKey !== null) {
    throw new QvacError('OPERATOR_ONLY', `${ctx.method} is only for the daemon's operator (its control socket)`, { details: { method: ctx.method } })
  }
}

export function listCacheHandler(cache: () => CacheKeeper | null): Handler<'listCache'> {
  return (_body, ctx) => {
    assertOperator(ctx)
    return running(cache()).listing()
  }
}

export function removeCacheHandler(cache: () => CacheKeeper | null): Handler<'removeCache'> {
  return ({ target, force }, ctx) => {
    assertOperator(ctx)
    return running(cache()).remove(target, force)
  }
}

/** `qvacd ps`: the loaded models with memory, sequences and idle time; a remote peer sees no local path. */
export function listLoadedHandler(models: ModelManager, keepAlive: KeepAlive, shownToRemote: (source: string) => string): Handler<'listLoaded'> {
  return (_body, ctx) => ({
    models: models.loaded().map((m) => ({
      modelId: m.modelId,
      source: ctx.caller.publicKey === null ? m.source : shownToRemote(m.source),
      sizeBytes: m.info.sizeBytes,
      // An embedding context does not report its state size.
      memoryBytes: m.model.size + (m.modelType === 'llm' ? m.context.stateSize : 0),
      sequences: m.pool.size,
      activeStreams: m.pool.active,
      queuedStreams: m.pool.queued,
      references: m.references,
      loadedAt: m.loadedAt,
      lastUsedAt: m.lastUsedAt,
      expiresAt: keepAlive.expiresAt(m.lastUsedAt)
    }))
  })
}

function running(cache: CacheKeeper | null): CacheKeeper {
  if (!cache) throw new QvacError('DAEMON_SHUTTING_DOWN', 'the daemon is not running')
  return cache
}
