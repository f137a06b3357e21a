import type { Handler } from './router.ts'
import { downloadGauges } from '../../shared/download-stats.ts'
import type { ModelManager } from '../inference/model-manager.ts'
import type { Delegation } from '../delegation/delegation.ts'
import type { SourcePolicy } from '../resolve/source-access.ts'

export function loadModelHandler(models: ModelManager, delegation: Delegation, sources: SourcePolicy): Handler<'loadModel'> {
  return async (request, ctx) => {
    const forwarded = await delegation.route(await delegation.targetFor(request), (target) => delegation.load(request, target, ctx))
    if (forwarded) return forwarded
    const ts = Date.now()
    // What a remote caller may load from is the source policy's call, and so is what its errors say.
    const access = sources.forCaller(ctx.caller)
    const { model, stats } = await models.load(request, ctx.signal, access).catch((err) => {
      throw sources.errorFor(err, access)
    })
    ctx.metrics.observe('loadModel.totalLoadTime', stats.totalLoadTime)
    ctx.profile?.emit('loadModel', 'load', {
      ts,
      ms: stats.totalLoadTime,
      bytes: stats.totalBytesDownloaded,
      gauges: {
        totalLoadTime: stats.totalLoadTime,
        modelInitializationTime: stats.modelInitializationTime,
        ...downloadGauges(stats)
      },
      tags: { modelType: request.modelType, sourceType: stats.sourceType, cacheHit: String(stats.cacheHit) }
    })
    return { modelId: model.modelId, info: model.info, stats }
  }
}

export function unloadModelHandler(models: ModelManager, delegation: Delegation): Handler<'unloadModel'> {
  return async ({ modelId }, ctx) => {
    const remote = delegation.remoteModel(modelId)
    return { references: remote ? await delegation.unload(remote, modelId, ctx) : await models.unload(modelId) }
  }
}
