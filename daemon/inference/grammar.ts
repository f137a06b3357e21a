import { LlamaGrammarEvaluationState, LlamaText, type LlamaGrammar, type LlamaModel } from 'node-llama-cpp'
import { QvacError } from '../../shared/errors.ts'

export interface ConstrainedOutput {
  /** Fresh per generation: it tracks where in the grammar the output is. */
  state: LlamaGrammarEvaluationState
  /** Text that ends the output (a JSON-schema grammar ends its document with blank lines). */
  stops: string[]
}

/**
 * The largest schema or grammar text a request may carry: parsing and compiling it runs on the
 * event loop, so its size is bounded like a prompt's (real schemas are a few KiB).
 */
export const MAX_GRAMMAR_BYTES = 64 * 1024

/**
 * The grammar of an infer request, compiled by node-llama-cpp (a JSON schema becomes GBNF), or
 * undefined when the request asks for none. Whatever the backend cannot compile is
 * INVALID_ARGUMENT: a bad schema from a peer never reaches the sampler.
 */
export async function constrainOutput(model: LlamaModel, request: { jsonSchema?: string; grammar?: string }): Promise<ConstrainedOutput | undefined> {
  const { jsonSchema, grammar } = request
  if (jsonSchema === undefined && grammar === undefined) return undefined
  if (jsonSchema !== undefined && grammar !== undefined) throw invalid('give jsonSchema or grammar, not both', 'jsonSchema')
  const field = jsonSchema !== undefined ? 'jsonSchema' : 'grammar'
  const bytes = Buffer.byteLength((jsonSchema ?? grammar) as string)
  if (bytes > MAX_GRAMMAR_BYTES) throw invalid(`${field} is ${bytes} bytes; this daemon takes at most ${MAX_GRAMMAR_BYTES}`, field)
  let compiled: LlamaGrammar
  if (jsonSchema !== undefined) {
    let schema: unknown
    try {
      schema = JSON.parse(jsonSchema)
    } catch (err) {
      throw invalid(`jsonSchema is not JSON: ${(err as Error).message}`, 'jsonSchema')
    }
    // node-llama-cpp reads anything else as "null only" without complaint.
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw invalid('jsonSchema must be a JSON object', 'jsonSchema')
    try {
      compiled = await model.llama.createGrammarForJsonSchema(schema as never) // typed for literal schemas only
    } catch (err) {
      throw invalid(`jsonSchema cannot be compiled to a grammar: ${(err as Error).message}`, 'jsonSchema')
    }
  } else {
    try {
      compiled = await model.llama.createGrammar({ grammar: grammar as string })
    } catch (err) {
      throw invalid(`grammar cannot be parsed: ${(err as Error).message}`, 'grammar')
    }
  }
  let state: LlamaGrammarEvaluationState
  try {
    state = new LlamaGrammarEvaluationState({ model, grammar: compiled })
  } catch (err) {
    throw invalid(`the grammar cannot be used: ${(err as Error).message}`, field)
  }
  const stops = compiled.stopGenerationTriggers.flatMap((trigger) => {
    const values = trigger instanceof LlamaText ? trigger.values : [trigger]
    return values.every((v) => typeof v === 'string') ? [values.join('')] : []
  })
  return { state, stops }
}

function invalid(message: string, field: string): QvacError {
  return new QvacError('INVALID_ARGUMENT', message, { details: { field } })
}
