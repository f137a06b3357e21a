import type { ChatHistoryItem, ChatWrapper, LlamaModel, Token } from 'node-llama-cpp'
import type { ChatMessage } from '../../shared/messages.ts'

export interface PreparedPrompt {
  tokens: Token[]
  /** Stop sequences the chat template adds (the end of the model's turn). */
  stops: string[]
}

/** A raw completion prompt, tokenized as node-llama-cpp's LlamaCompletion does (BOS first). */
export function completionPrompt(model: LlamaModel, prompt: string): PreparedPrompt {
  const bos = model.tokens.bos
  const prependBos = bos !== null && model.tokens.shouldPrependBosToken
  const text = model.tokenize(prompt, false, prependBos ? 'trimLeadingSpace' : undefined)
  return { tokens: prependBos ? [bos, ...text] : text, stops: [] }
}

/** Chat messages rendered by the model's chat template, ready for the assistant's turn. */
export function chatPrompt(model: LlamaModel, wrapper: ChatWrapper, messages: ChatMessage[]): PreparedPrompt {
  const chatHistory: ChatHistoryItem[] = messages.map((m) =>
    m.role === 'assistant' ? { type: 'model', response: [m.content] } : { type: m.role, text: m.content }
  )
  chatHistory.push({ type: 'model', response: [] })
  const state = wrapper.generateContextState({ chatHistory })
  const stops = state.stopGenerationTriggers
    .filter((trigger) => trigger.values.every((v) => typeof v === 'string'))
    .map((trigger) => trigger.values.join(''))
  return { tokens: state.contextText.tokenize(model.tokenizer), stops }
}
