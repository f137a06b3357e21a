import type { InferStream, InferTrailer, StopReason } from '../client/index.ts'
import { mapChatCompletion, mapCompletion, type MappedCompletion } from './request-mapping.ts'
import { toHttpError } from './errors.ts'
import { isModelGone } from './model-table.ts'
import { serverTiming } from './server-timing.ts'
import { SseWriter } from './sse.ts'
import type { RouteContext } from './route-context.ts'

export type CompletionKind = 'chat' | 'text'

// OpenAI's finish_reason: the daemon's eos and stop sequences are both "stop".
const FINISH_REASON: Partial<Record<StopReason, string>> = { eos: 'stop', stop: 'stop', length: 'length' }

/**
 * POST /v1/chat/completions and /v1/completions. A stream's headers go out with its first token
 * (so an error before it still gets its HTTP status) and each token is written as it arrives; the
 * response closing early (client gone) aborts the daemon's stream.
 */
export async function serveCompletion(ctx: RouteContext, kind: CompletionKind, body: Record<string, unknown>): Promise<void> {
  const mapped = kind === 'chat' ? mapChatCompletion(body) : mapCompletion(body)
  try {
    const modelId = await ctx.models.resolve(mapped.model, 'llm', ctx.timeout)
    const stream = ctx.client.infer({ ...mapped.infer, modelId }, { signal: ctx.signal, timeout: ctx.timeout, traceId: ctx.traceId })
    if (mapped.stream) await streamResponse(ctx, kind, mapped, stream)
    else await wholeResponse(ctx, kind, mapped, stream)
  } catch (err) {
    // The daemon restarted and forgot a configured model: the next request loads it again.
    if (isModelGone(err)) ctx.models.forget(mapped.model, 'llm')
    throw err
  }
}

async function wholeResponse(ctx: RouteContext, kind: CompletionKind, mapped: MappedCompletion, stream: InferStream): Promise<void> {
  const text = await stream.text()
  const trailer = await stream.trailer
  const message = {
    id: completionId(ctx, kind),
    object: kind === 'chat' ? 'chat.completion' : 'text_completion',
    created: Math.floor(Date.now() / 1000),
    model: mapped.model,
    choices: [
      kind === 'chat'
        ? { index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finishReason(trailer) }
        : { index: 0, text, logprobs: null, finish_reason: finishReason(trailer) }
    ],
    usage: usage(trailer)
  }
  ctx.completed(mapped.model, trailer)
  ctx.json(200, message, { 'server-timing': serverTiming(trailer.stats, ctx.elapsed()) })
}

async function streamResponse(ctx: RouteContext, kind: CompletionKind, mapped: MappedCompletion, stream: InferStream): Promise<void> {
  const sse = new SseWriter(ctx.res)
  const id = completionId(ctx, kind)
  const created = Math.floor(Date.now() / 1000)
  const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion'
  const frame = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id, object, created, model: mapped.model, choices, ...extra })
  const choice = (text: string, first: boolean, finish: string | null) =>
    kind === 'chat'
      ? { index: 0, delta: first ? { role: 'assistant', content: text } : text === '' ? {} : { content: text }, logprobs: null, finish_reason: finish }
      : { index: 0, text, logprobs: null, finish_reason: finish }

  // Every later content event is the same JSON but for its text: serialized once, the text spliced in.
  const marker = JSON.stringify('\u0000')
  const template = `data: ${JSON.stringify(frame([choice('\u0000', false, null)]))}\n\n`
  // The last occurrence: the text comes after every field a client chose (the model name).
  const at = template.lastIndexOf(marker)
  const [head, tail] = [template.slice(0, at), template.slice(at + marker.length)]
  let started = false
  try {
    for await (const chunk of stream) {
      if (chunk.text === '' && started) continue
      if (!started) sse.start(ctx.headers())
      const waiting = started ? sse.write(head + JSON.stringify(chunk.text) + tail) : sse.send(frame([choice(chunk.text, true, null)]))
      started = true
      if (waiting) await waiting
    }
  } catch (err) {
    if (!started) throw err
    // Headers are gone: OpenAI's way to fail a stream is an error event, then the end.
    sse.send({ error: toHttpError(err).body().error })
    sse.end()
    ctx.completed(mapped.model, await stream.trailer)
    return
  }
  const trailer = await stream.trailer
  if (!started) {
    sse.start(ctx.headers())
    sse.send(frame([choice('', true, null)]))
  }
  sse.send(frame([choice('', false, finishReason(trailer))]))
  if (mapped.includeUsage) sse.send(frame([], { usage: usage(trailer) }))
  sse.comment(`server-timing: ${serverTiming(trailer.stats, ctx.elapsed())}`)
  sse.end()
  ctx.completed(mapped.model, trailer)
}

function finishReason(trailer: InferTrailer): string {
  return FINISH_REASON[trailer.stopReason] ?? 'stop'
}

function usage(trailer: InferTrailer) {
  const { promptTokens, generatedTokens } = trailer.stats
  return { prompt_tokens: promptTokens, completion_tokens: generatedTokens, total_tokens: promptTokens + generatedTokens }
}

function completionId(ctx: RouteContext, kind: CompletionKind): string {
  return `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${ctx.traceId}`
}

