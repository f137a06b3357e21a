import type { Handler } from './router.ts'
import type { ModelManager } from '../inference/model-manager.ts'

export function loadModelHandler(models: ModelManager): Handler<'loadModel'> {
  return async (request, ctx) => {
    const { model, stats } = await models.load(request, ctx.signal)
    return { modelId: model.modelId, info: model.info, stats }
  }
}

export function unloadModelHandler(models: ModelManager): Handler<'unloadModel'> {
  return async ({ modelId }) => ({ references: await models.unload(modelId) })
}
