import type { LlamaModel, Token } from 'node-llama-cpp'

const CONTEXT_TOKENS = 8
const MAX_HELD_TOKENS = 4

/**
 * Turns generated tokens into text as they come. Decoding with the preceding tokens as context
 * keeps a word's leading space (as llama.cpp's server returns it), and a token that ends inside
 * a multi-byte UTF-8 character is held until the character is complete.
 */
export class TokenText {
  private readonly model: LlamaModel
  private context: Token[]
  private held: Token[] = []

  constructor(model: LlamaModel, promptTokens: Token[]) {
    this.model = model
    this.context = promptTokens.slice(-CONTEXT_TOKENS)
  }

  push(token: Token): string {
    this.held.push(token)
    const text = this.model.detokenize(this.held, false, this.context)
    if (text.endsWith('\uFFFD') && this.held.length < MAX_HELD_TOKENS) return ''
    return this.release(text)
  }

  flush(): string {
    return this.held.length === 0 ? '' : this.release(this.model.detokenize(this.held, false, this.context))
  }

  private release(text: string): string {
    this.context = [...this.context, ...this.held].slice(-CONTEXT_TOKENS)
    this.held = []
    return text
  }
}
