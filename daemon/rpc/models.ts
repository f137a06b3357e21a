import type { Handler } from './router.ts'
import type { ModelManager } from '../inference/model-manager.ts'
import type { Delegation } from '../delegation/delegation.ts'
import { isQvacError } from '../../shared/errors.ts'

export function loadModelHandler(models: ModelManager, delegation: Delegation): Handler<'loadModel'> {
  return async (request, ctx) => {
    const target = delegation.targetFor(request)
    if (target) {
      try {
        return await delegation.load(request, target, ctx)
      } catch (err) {
        if (!(target.fallbackToLocal && isQvacError(err, 'DELEGATION_FAILED'))) throw err
      }
    }
    const ts = Date.now()
    const { model, stats } = await models.load(request, ctx.signal)
    ctx.metrics.observe('loadModel.totalLoadTime', stats.totalLoadTime)
    ctx.profile?.emit('loadModel', 'load', {
      ts,
      ms: stats.totalLoadTime,
      bytes: stats.totalBytesDownloaded,
      gauges: {
        totalLoadTime: stats.totalLoadTime,
        modelInitializationTime: stats.modelInitializationTime,
        downloadTime: stats.downloadTime,
        totalBytesDownloaded: stats.totalBytesDownloaded,
        downloadSpeedBps: stats.downloadSpeedBps,
        checksumValidationTime: stats.checksumValidationTime
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
