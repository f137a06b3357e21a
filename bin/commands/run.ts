import readline from 'node:readline'
import type { ChatMessage, InferStream, InferTrailer, QvacClient } from '../../client/index.ts'
import { QvacError } from '../../shared/errors.ts'
import { openDaemon, type DaemonTarget } from './daemon-client.ts'
import { sourceArg } from './source-arg.ts'
import { verboseSummary } from '../format/run-stats.ts'
import { formatDuration } from '../format/units.ts'

export interface RunOptions extends DaemonTarget {
  maxTokens: number
  temperature?: number
  seed?: number
  system?: string
  contextSize?: number
  chat?: boolean
  json?: boolean
  verbose?: boolean
}

interface Answer {
  text: string
  trailer: InferTrailer
  clientMs: number
}

const HELP = 'type a message; /bye or Ctrl-D leaves; Ctrl-C stops an answer (at an empty prompt it leaves)'

/**
 * `qvacd run SOURCE [PROMPT]`, as `ollama run`: loads the model unless the daemon already has it
 * loaded, then answers the prompt (or stdin when it is not a terminal), or chats when there is
 * neither: each line a turn, the conversation kept. Text is written as it arrives.
 */
export async function runRun(source: string, words: string[], opts: RunOptions): Promise<void> {
  const client = await openDaemon(opts)
  try {
    const model = await ensureLoaded(client, sourceArg(source, { remote: Boolean(opts.peer || opts.topic) }), opts)
    if (opts.verbose && model.loadMs !== null) process.stderr.write(`load duration:        ${formatDuration(model.loadMs)}\n`)
    let prompt = words.join(' ')
    if (!prompt && !process.stdin.isTTY && !opts.chat) {
      prompt = (await readAll(process.stdin)).trim()
      if (!prompt) throw new QvacError('INVALID_ARGUMENT', 'no prompt: give one after the source, on stdin, or run in a terminal to chat')
    }
    if (prompt) {
      const answer = await ask(client, model.modelId, conversation(opts, prompt), opts, null)
      if (answer.trailer.error) throw answer.trailer.error
      return
    }
    await chat(client, model.modelId, opts)
  } finally {
    await client.close()
  }
}

/** The model's id: the one already loaded from this source (no new reference), or a fresh load. */
async function ensureLoaded(client: QvacClient, source: string, opts: RunOptions): Promise<{ modelId: string; loadMs: number | null }> {
  const loaded = (await client.listLoaded({ timeout: opts.timeout })).find((m) => m.source === source)
  if (loaded) return { modelId: loaded.modelId, loadMs: null }
  const result = await client.loadModel({ source, config: { contextSize: opts.contextSize } }, { timeout: opts.timeout })
  return { modelId: result.modelId, loadMs: result.stats.totalLoadTime }
}

function conversation(opts: RunOptions, prompt: string): ChatMessage[] {
  return [...(opts.system ? [{ role: 'system' as const, content: opts.system }] : []), { role: 'user', content: prompt }]
}

/** One answer, streamed to stdout (or kept for --json); `onstream` lets Ctrl-C reach it. */
async function ask(
  client: QvacClient,
  modelId: string,
  messages: ChatMessage[],
  opts: RunOptions,
  onstream: ((stream: InferStream | null) => void) | null
): Promise<Answer> {
  const started = performance.now()
  const stream = client.infer(
    { modelId, messages, maxTokens: opts.maxTokens, temperature: opts.temperature, seed: opts.seed },
    { profiling: opts.verbose || opts.json }
  )
  onstream?.(stream)
  let text = ''
  try {
    for await (const chunk of stream) {
      text += chunk.text
      if (!opts.json) process.stdout.write(chunk.text)
    }
  } catch {
    // The trailer carries the error; a cancelled answer keeps what came before it.
  } finally {
    onstream?.(null)
  }
  const trailer = await stream.trailer
  const clientMs = performance.now() - started
  if (opts.json) {
    process.stdout.write(JSON.stringify({ modelId, response: text, stopReason: trailer.stopReason, frames: trailer.frames, stats: trailer.stats, clientMs, error: trailer.error?.toJSON() }) + '\n')
  } else if (text.length > 0 || trailer.stopReason === 'cancelled') {
    process.stdout.write('\n')
  }
  if (opts.verbose) process.stderr.write(verboseSummary(trailer, clientMs) + '\n')
  return { text, trailer, clientMs }
}

async function chat(client: QvacClient, modelId: string, opts: RunOptions): Promise<void> {
  const tty = Boolean(process.stdin.isTTY)
  const rl = readline.createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty, prompt: '>>> ' })
  const history: ChatMessage[] = opts.system ? [{ role: 'system', content: opts.system }] : []
  let current: InferStream | null = null
  // Ctrl-C: stops the answer being written; at an empty prompt, leaves.
  const interrupt = () => {
    if (current) {
      void current.cancel()
    } else if (!tty || rl.line === '') {
      rl.close()
    } else {
      rl.write(null, { ctrl: true, name: 'u' })
    }
  }
  rl.on('SIGINT', interrupt)
  process.on('SIGINT', interrupt)
  if (tty) {
    process.stdout.write(`${HELP}\n`)
    rl.prompt()
  }
  try {
    for await (const line of rl) {
      const text = line.trim()
      if (text === '/bye') break
      if (text === '/?' || text === '/help') process.stdout.write(`${HELP}\n`)
      else if (text !== '') {
        const answer = await ask(client, modelId, [...history, { role: 'user', content: text }], opts, (s) => (current = s))
        if (answer.trailer.error) process.stderr.write(`qvacd: ${answer.trailer.error.message} (${answer.trailer.error.name})\n`)
        // A stopped or failed answer is not part of the conversation.
        else if (answer.trailer.stopReason !== 'cancelled') history.push({ role: 'user', content: text }, { role: 'assistant', content: answer.text })
      }
      if (tty) rl.prompt()
    }
  } finally {
    process.off('SIGINT', interrupt)
    rl.close()
  }
}

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  for await (const chunk of input) text += chunk.toString()
  return text
}
