import { mapEmbedding } from './request-mapping.ts'
import { isModelGone } from './model-table.ts'
import type { RouteContext } from './route-context.ts'

/** POST /v1/embeddings: one daemon `embed` call for the whole batch. */
export async function serveEmbeddings(ctx: RouteContext, body: Record<string, unknown>): Promise<void> {
  const mapped = mapEmbedding(body)
  let result
  try {
    const modelId = await ctx.models.resolve(mapped.model, 'embedding', ctx.timeout)
    result = await ctx.client.embed({ modelId, inputs: mapped.inputs }, { signal: ctx.signal, timeout: ctx.timeout, traceId: ctx.traceId })
  } catch (err) {
    if (isModelGone(err)) ctx.models.forget(mapped.model, 'embedding')
    throw err
  }
  const tokens = result.promptTokens.reduce((a, b) => a + b, 0)
  ctx.json(
    200,
    {
      object: 'list',
      data: result.vectors.map((vector, index) => ({
        object: 'embedding',
        index,
        // base64 is the float32 bytes, little-endian: what the openai SDK asks for by default.
        embedding: mapped.encoding === 'base64' ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64') : Array.from(vector)
      })),
      model: mapped.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens }
    },
    {
      'server-timing': `queue;dur=${result.queueMs.toFixed(2)}, embed;dur=${result.embedTime.toFixed(2)}, server;dur=${result.totalTime.toFixed(2)}, gateway;dur=${ctx.elapsed().toFixed(2)}`
    }
  )
}
