import { QvacError } from '../../shared/errors.ts'
import type { EmbedRequest } from '../../shared/messages.ts'
import type { Delegation } from '../delegation/delegation.ts'
import type { ModelManager } from '../inference/model-manager.ts'
import { embedInputs } from '../inference/embedding.ts'
import type { Handler } from './router.ts'

/** The largest batch one embed call may carry (as OpenAI's 2048 inputs per request). */
export const MAX_EMBED_INPUTS = 2048

/** `embed`: a batch of inputs → one vector each, from an embedding model here or on a provider. */
export function embedHandler(models: ModelManager, delegation: Delegation, limits: { maxPromptBytes: number }): Handler<'embed'> {
  return async (request, ctx) => {
    const started = performance.now()
    validate(request, limits.maxPromptBytes)
    const remote = delegation.remoteModel(request.modelId)
    const forwarded = remote
      ? await delegation.embed(request, remote, ctx)
      : await delegation.route(request.delegate, (target) =>
          delegation.embed(request, { peer: target.peer, remoteId: request.modelId }, ctx)
        )
    if (forwarded) return { ...forwarded, totalTime: performance.now() - started }

    const managed = models.getEmbedding(request.modelId)
    const lease = await managed.pool.acquire(ctx.signal)
    if (ctx.profile) ctx.profile.queueMs = lease.queueMs
    let result
    try {
      result = await embedInputs(managed, request.inputs, ctx.signal)
    } finally {
      lease.release()
    }
    const promptTokens = result.promptTokens.reduce((a, b) => a + b, 0)
    ctx.metrics.observe('embed.embedTime', result.embedTime)
    ctx.profile?.emit('embed', 'inference', {
      ts: Date.now() - (performance.now() - started),
      ms: performance.now() - started,
      gauges: {
        embedTime: result.embedTime,
        promptTokens,
        inputs: request.inputs.length,
        dimensions: result.vectors[0]?.length ?? 0,
        queueMs: lease.queueMs
      },
      tags: { backendDevice: managed.info.backendDevice }
    })
    return {
      vectors: result.vectors,
      promptTokens: result.promptTokens,
      embedTime: result.embedTime,
      queueMs: lease.queueMs,
      totalTime: performance.now() - started
    }
  }
}

function validate(request: EmbedRequest, maxPromptBytes: number): void {
  const invalid = (message: string) => new QvacError('INVALID_INFERENCE_PARAMS', message, { details: { field: 'inputs' } })
  if (request.inputs.length === 0) throw invalid('inputs is empty')
  if (request.inputs.length > MAX_EMBED_INPUTS) throw invalid(`at most ${MAX_EMBED_INPUTS} inputs per call, got ${request.inputs.length}`)
  const empty = request.inputs.findIndex((input) => input.length === 0)
  if (empty !== -1) throw invalid(`input ${empty} is empty`)
  // The same bound as a prompt, on the batch: checked before any input is tokenized.
  let bytes = 0
  for (const input of request.inputs) bytes += Buffer.byteLength(input)
  if (bytes > maxPromptBytes) {
    throw new QvacError('PROMPT_TOO_LONG', `the inputs are ${bytes} bytes; this daemon takes at most ${maxPromptBytes}`, {
      details: { promptBytes: bytes, maxPromptBytes }
    })
  }
}
