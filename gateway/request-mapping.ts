import type { ChatMessage, InferInput } from '../client/index.ts'
import { badRequest } from './errors.ts'

/** What a completion request asks for, in qvacd's terms (the model still by its OpenAI name). */
export interface MappedCompletion {
  model: string
  infer: Omit<InferInput, 'modelId'>
  stream: boolean
  includeUsage: boolean
}

export interface MappedEmbedding {
  model: string
  inputs: string[]
  encoding: 'float' | 'base64'
}

// OpenAI's default when max_tokens is left out is "as long as the context allows"; a bounded default keeps a forgotten limit cheap.
const DEFAULT_MAX_TOKENS = 4096

type Body = Record<string, unknown>

/** POST /v1/chat/completions → an infer with `messages` (the daemon applies the model's chat template). */
export function mapChatCompletion(body: Body): MappedCompletion {
  const messages = body.messages
  if (!Array.isArray(messages) || messages.length === 0) throw badRequest('messages must be a non-empty array', 'messages')
  return {
    ...common(body),
    infer: { ...sampling(body), messages: messages.map(chatMessage) }
  }
}

/** POST /v1/completions → an infer with a raw `prompt`. */
export function mapCompletion(body: Body): MappedCompletion {
  let prompt = body.prompt
  if (Array.isArray(prompt) && prompt.length === 1) prompt = prompt[0]
  if (typeof prompt !== 'string') throw badRequest('prompt must be a string (or an array of one string)', 'prompt')
  if (body.suffix !== undefined && body.suffix !== null) throw badRequest('suffix is not supported', 'suffix')
  if (body.echo === true) throw badRequest('echo is not supported', 'echo')
  return { ...common(body), infer: { ...sampling(body), prompt } }
}

/** POST /v1/embeddings: a string or an array of strings (token arrays are not taken). */
export function mapEmbedding(body: Body): MappedEmbedding {
  const model = requireModel(body)
  const input = body.input
  const inputs = typeof input === 'string' ? [input] : input
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((i) => typeof i === 'string')) {
    throw badRequest('input must be a string or a non-empty array of strings', 'input')
  }
  const encoding = body.encoding_format ?? 'float'
  if (encoding !== 'float' && encoding !== 'base64') throw badRequest("encoding_format must be 'float' or 'base64'", 'encoding_format')
  if (body.dimensions !== undefined) throw badRequest('dimensions is not supported: vectors have the size of the model', 'dimensions')
  return { model, inputs, encoding }
}

function common(body: Body): Pick<MappedCompletion, 'model' | 'stream' | 'includeUsage'> {
  const model = requireModel(body)
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw badRequest('only n = 1 is supported', 'n')
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw badRequest('stream must be a boolean', 'stream')
  const options = body.stream_options as { include_usage?: unknown } | undefined | null
  return { model, stream: body.stream === true, includeUsage: options?.include_usage === true }
}

function requireModel(body: Body): string {
  if (typeof body.model !== 'string' || body.model.length === 0) throw badRequest('model is required', 'model')
  return body.model
}

function sampling(body: Body): Omit<InferInput, 'modelId' | 'prompt' | 'messages'> {
  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? DEFAULT_MAX_TOKENS
  if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1) throw badRequest('max_tokens must be a positive integer', 'max_tokens')
  const out: Omit<InferInput, 'modelId' | 'prompt' | 'messages'> = { maxTokens: maxTokens as number }
  // OpenAI's own defaults (temperature 1, top_p 1) when the request leaves them out.
  out.temperature = optionalNumber(body, 'temperature', 0, 2) ?? 1
  out.topP = optionalNumber(body, 'top_p', 0, 1) ?? 1
  if (out.topP === 0) {
    // Keeping only the most likely token is greedy decoding; the daemon wants top_p > 0.
    out.temperature = 0
    out.topP = 1
  }
  const seed = body.seed
  if (seed !== undefined && seed !== null) {
    if (!Number.isInteger(seed)) throw badRequest('seed must be an integer', 'seed')
    out.seed = Number(BigInt.asUintN(32, BigInt(seed as number)))
  }
  const stop = body.stop
  if (stop !== undefined && stop !== null) {
    const list = typeof stop === 'string' ? [stop] : stop
    if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === 'string' && s.length > 0)) {
      throw badRequest('stop must be a string or up to 4 non-empty strings', 'stop')
    }
    out.stop = list
  }
  const schema = responseFormat(body.response_format)
  if (schema !== undefined) out.jsonSchema = schema
  return out
}

/** response_format → a JSON schema the daemon compiles to a grammar; json_object is any object. */
function responseFormat(format: unknown): string | undefined {
  if (format === undefined || format === null) return undefined
  const { type, json_schema: jsonSchema } = format as { type?: unknown; json_schema?: { schema?: unknown } }
  if (type === 'text') return undefined
  if (type === 'json_object') return JSON.stringify({ type: 'object', additionalProperties: true })
  if (type === 'json_schema') {
    const schema = jsonSchema?.schema
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
      throw badRequest('response_format.json_schema.schema must be a JSON schema object', 'response_format')
    }
    return JSON.stringify(schema)
  }
  throw badRequest("response_format.type must be 'text', 'json_object' or 'json_schema'", 'response_format')
}

function optionalNumber(body: Body, field: string, min: number, max: number): number | undefined {
  const value = body[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !(value >= min && value <= max)) throw badRequest(`${field} must be a number within ${min}..${max}`, field)
  return value
}

function chatMessage(message: unknown, index: number): ChatMessage {
  const param = `messages[${index}]`
  if (message === null || typeof message !== 'object') throw badRequest(`${param} must be an object`, param)
  const { role, content } = message as { role?: unknown; content?: unknown }
  // OpenAI's newer models call the system prompt "developer".
  const mapped = role === 'developer' ? 'system' : role
  if (mapped !== 'system' && mapped !== 'user' && mapped !== 'assistant') {
    throw badRequest(`${param}.role must be system, developer, user or assistant (tools are not supported)`, `${param}.role`)
  }
  return { role: mapped, content: contentText(content, `${param}.content`) }
}

/** A message's content: a string, or an array of text parts joined (images are not taken). */
function contentText(content: unknown, param: string): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) {
    return content
      .map((part) => {
        if (part?.type !== 'text' || typeof part.text !== 'string') throw badRequest(`${param}: only text parts are supported`, param)
        return part.text as string
      })
      .join('')
  }
  throw badRequest(`${param} must be a string or an array of text parts`, param)
}
