import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import {
  LlamaText,
  SpecialToken,
  SpecialTokensText,
  type ChatHistoryItem,
  type ChatWrapper,
  type LlamaModel,
  type Token,
  type Tokenizer
} from 'node-llama-cpp'
import type { ChatMessage } from '../../shared/messages.ts'

export interface PreparedPrompt {
  tokens: Token[]
  /** Stop sequences the chat template adds (the end of the model's turn). */
  stops: string[]
}

/**
 * node-llama-cpp tokenizes synchronously, and slower than linearly (measured on the test model:
 * 1 MiB in one call 2.4–5 s; 8 KiB slices 20–30 ms each on a busy 2-core machine), so text is
 * tokenized in slices of this many characters with the event loop let through between them: no
 * prompt blocks other peers for longer than one slice (~3 ms).
 */
export const TOKENIZE_SLICE_CHARS = 1024

/** UTF-8 bytes of a request's prompt text: what --max-prompt-bytes bounds, checked before tokenizing. */
export function promptBytes(prompt: string | undefined, messages: ChatMessage[] | undefined): number {
  if (prompt !== undefined) return Buffer.byteLength(prompt)
  let bytes = 0
  for (const m of messages ?? []) bytes += Buffer.byteLength(m.content)
  return bytes
}

/** A raw completion prompt, tokenized as node-llama-cpp's LlamaCompletion does (BOS first). */
export async function completionPrompt(model: LlamaModel, prompt: string): Promise<PreparedPrompt> {
  const bos = model.tokens.bos
  const prependBos = bos !== null && model.tokens.shouldPrependBosToken
  const tokens = await tokenizeInSlices(model.tokenizer, prompt, false, prependBos ? 'trimLeadingSpace' : undefined)
  if (prependBos) tokens.unshift(bos)
  return { tokens, stops: [] }
}

/** Chat messages rendered by the model's chat template, ready for the assistant's turn. */
export async function chatPrompt(model: LlamaModel, wrapper: ChatWrapper, messages: ChatMessage[]): Promise<PreparedPrompt> {
  const chatHistory: ChatHistoryItem[] = messages.map((m) =>
    m.role === 'assistant' ? { type: 'model', response: [m.content] } : { type: m.role, text: m.content }
  )
  chatHistory.push({ type: 'model', response: [] })
  const state = wrapper.generateContextState({ chatHistory })
  const stops = state.stopGenerationTriggers
    .filter((trigger) => trigger.values.every((v) => typeof v === 'string'))
    .map((trigger) => trigger.values.join(''))
  return { tokens: await tokenizeText(model.tokenizer, state.contextText), stops }
}

/** LlamaText.tokenize (node-llama-cpp's dist/utils/LlamaText.js), with every text run tokenized in slices. */
async function tokenizeText(tokenizer: Tokenizer, text: LlamaText): Promise<Token[]> {
  const tokens: Token[] = []
  let pending = ''
  const options = () => (tokens.length > 0 || pending.length > 0 ? 'trimLeadingSpace' : undefined)
  const flush = async () => {
    const run = await tokenizeInSlices(tokenizer, pending, false, options())
    for (const token of run) tokens.push(token)
    pending = ''
  }
  for (const value of text.values) {
    if (value instanceof SpecialToken) {
      await flush()
      for (const token of value.tokenize(tokenizer)) tokens.push(token)
    } else if (value instanceof SpecialTokensText) {
      const trim = tokens.length > 0 || pending.length > 0
      await flush()
      for (const token of await tokenizeInSlices(tokenizer, value.value, true, trim ? 'trimLeadingSpace' : undefined)) tokens.push(token)
    } else {
      pending += value
    }
  }
  await flush()
  return tokens
}

/**
 * Tokenizes `text` a slice at a time, yielding to the event loop between slices. Slices end before
 * a single space between two non-space characters, a boundary both SentencePiece and BPE
 * pre-tokenizers keep, so the tokens are those of one call; a run of more than a slice without
 * such a space is cut where the slice ends.
 */
export async function tokenizeInSlices(
  tokenizer: Tokenizer,
  text: string,
  specialTokens: boolean,
  options: 'trimLeadingSpace' | undefined
): Promise<Token[]> {
  if (text.length <= TOKENIZE_SLICE_CHARS) return tokenizer(text, specialTokens, options)
  const tokens: Token[] = []
  let start = 0
  while (start < text.length) {
    const end = sliceEnd(text, start)
    const slice = tokenizer(text.slice(start, end), specialTokens, start === 0 ? options : 'trimLeadingSpace')
    for (const token of slice) tokens.push(token)
    start = end
    if (start < text.length) await yieldToEventLoop()
  }
  return tokens
}

function sliceEnd(text: string, start: number): number {
  const limit = start + TOKENIZE_SLICE_CHARS
  if (limit >= text.length) return text.length
  for (let i = limit; i > start + (TOKENIZE_SLICE_CHARS >> 1); i--) {
    if (text[i] === ' ' && !isSpace(text[i - 1]) && !isSpace(text[i + 1])) return i
  }
  // No clean boundary: cut, but never inside a surrogate pair.
  const code = text.charCodeAt(limit - 1)
  return code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit
}

function isSpace(ch: string | undefined): boolean {
  return ch === undefined || /\s/.test(ch)
}
