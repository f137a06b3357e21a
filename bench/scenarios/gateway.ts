import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import type { QvacClient } from '../../client/index.ts'
import { defaultThreads } from '../../daemon/inference/backend.ts'
import { Gateway } from '../../gateway/server.ts'
import { firstLine, profileArgs, QVACD_BIN, spawnChild, stopChild, TSX_ENTRY } from '../children.ts'
import { PROMPT, type BenchContext } from '../context.ts'
import { connectToChild, startDaemonChild, type DaemonChild } from '../daemon-child.ts'
import { interleave } from '../interleave.ts'
import { findLlamaServer, startLlamaServer, type LlamaServer } from '../llama-server.ts'
import type { BenchModelName } from '../models.ts'
import type { ScenarioRecorder } from '../report.ts'
import { recordStreams } from '../stream-phases.ts'
import { StreamTimer, type StreamSample } from '../stream-sample.ts'

const MESSAGES = [{ role: 'user' as const, content: PROMPT }]
// Kept-alive connections, as an SDK keeps them: no TCP handshake inside a measured TTFT.
const agent = new http.Agent({ keepAlive: true })

/**
 * The OpenAI-compatible path: a `qvacd gateway` child in front of a `qvacd start` child, read as
 * SSE from /v1/chat/completions, against the client library on the same daemon (same chat
 * messages, greedy, same maxTokens), and llama-server's own /v1/chat/completions on the same GGUF
 * when it is built.
 */
export async function gatewayScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  const threads = defaultThreads()
  rec.note(`gateway: threads ${threads}; 'qvacd gateway' is its own process (as \`qvacd gateway\` runs), 'gateway in-process' is embedded in the bench process; tokens counted from the final usage`)
  const daemon = await startDaemonChild(ctx.bootstrap, { threads })
  try {
    const gateway = await startGatewayChild(daemon, ctx.bootstrap)
    // The same gateway embedded in this process, with its own connection to the daemon.
    const embeddedClient = await connectToChild(daemon, ctx.bootstrap)
    const embedded = new Gateway({ client: embeddedClient })
    try {
      await embedded.listen()
      const client = await connectToChild(daemon, ctx.bootstrap)
      try {
        for (const name of ctx.settings.models) await compare(ctx, rec, client, { child: gateway.url, embedded: `${embedded.url}/v1` }, name, threads)
      } finally {
        await client.close()
      }
    } finally {
      await embedded.close()
      await embeddedClient.close()
      await stopChild(gateway.child)
    }
  } finally {
    await daemon.stop()
  }
}

async function compare(
  ctx: BenchContext,
  rec: ScenarioRecorder,
  client: QvacClient,
  urls: { child: string; embedded: string },
  name: BenchModelName,
  threads: number
): Promise<void> {
  const model = ctx.model(name)
  const maxTokens = ctx.settings.maxTokens[name]
  const iterations = ctx.settings.streams[name]
  ctx.progress(`gateway: ${name} model, ${iterations} × ${maxTokens} tokens per side`)
  const { modelId, info } = await client.loadModel({ source: model.path, config: { threads } })
  const bin = findLlamaServer(ctx.cacheDir)
  let server: LlamaServer | null = null
  try {
    const sides: Record<string, () => Promise<StreamSample>> = {
      'qvacd client': () => clientChatStream(client, modelId, maxTokens),
      'qvacd gateway': () => openAiChatStream(urls.child, modelId, maxTokens),
      'gateway in-process': () => openAiChatStream(urls.embedded, modelId, maxTokens)
    }
    if (bin) {
      server = await startLlamaServer(bin, model.path, { threads, contextSize: info.contextSize })
      const base = `http://127.0.0.1:${server.port}/v1`
      // A server that cannot chat with this model (no usable template) is a note, not a failed run.
      const probe = await openAiChatStream(base, 'model', 2).then(() => null, (err: Error) => err.message)
      if (probe) rec.unavailableFor('llama-server /v1/chat/completions', probe)
      else sides['llama-server'] = () => openAiChatStream(base, 'model', maxTokens)
    } else {
      rec.unavailableFor('llama-server /v1/chat/completions', 'llama-server is not built (`qvacd bench --full llama-server` builds it)')
    }
    const samples = await interleave(sides, iterations)
    const direct = recordStreams(rec, name, 'qvacd client', samples['qvacd client'])
    const gateway = recordStreams(rec, name, 'qvacd gateway', samples['qvacd gateway'])
    rec.ratio(name, 'gateway tok/s ÷ client library (p50)', gateway.tokensPerSecond.p50, direct.tokensPerSecond.p50, { op: '>=', target: 0.95 })
    rec.value(name, 'gateway TTFT − client library, ms (p50)', gateway.ttft.p50 - direct.ttft.p50, { op: '<=', target: 1 })
    const inProcess = recordStreams(rec, name, 'gateway in-process', samples['gateway in-process'])
    rec.ratio(name, 'in-process gateway tok/s ÷ client library (p50)', inProcess.tokensPerSecond.p50, direct.tokensPerSecond.p50, { op: '>=', target: 0.95 })
    rec.value(name, 'in-process gateway TTFT − client library, ms (p50)', inProcess.ttft.p50 - direct.ttft.p50, { op: '<=', target: 1 })
    if (samples['llama-server']) {
      const peer = recordStreams(rec, name, 'llama-server', samples['llama-server'])
      rec.ratio(name, 'gateway ÷ llama-server tok/s (p50), OpenAI chat SSE both', gateway.tokensPerSecond.p50, peer.tokensPerSecond.p50)
      rec.ratio(name, 'gateway ÷ llama-server TTFT (p50), OpenAI chat SSE both', gateway.ttft.p50, peer.ttft.p50)
    }
  } finally {
    await server?.stop()
    await client.unloadModel(modelId)
  }
}

async function startGatewayChild(daemon: DaemonChild, bootstrap: string): Promise<{ child: ChildProcess; url: string }> {
  const args = [...profileArgs(), ...TSX_ENTRY, QVACD_BIN, 'gateway', '--json', '--port', '0', '--peer', daemon.publicKey, '--bootstrap', bootstrap]
  const child = spawnChild(process.execPath, args)
  try {
    return { child, url: (JSON.parse(await firstLine(child, 'qvacd gateway')) as { url: string }).url }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

/** The client library's side: the same chat messages, timed at the reader. */
async function clientChatStream(client: QvacClient, modelId: string, maxTokens: number): Promise<StreamSample> {
  const timer = new StreamTimer()
  const stream = client.infer({ modelId, messages: MESSAGES, maxTokens, temperature: 0 })
  for await (const chunk of stream) timer.chunk(chunk.tokens.length)
  const trailer = await stream.trailer
  if (trailer.error) throw trailer.error
  return timer.finish()
}

/**
 * One greedy chat completion streamed as OpenAI SSE, timed at the reader. An event may carry
 * several tokens (text held back while it could be the start of a stop sequence), so the token
 * count is the final usage (`stream_options.include_usage`), spread evenly over the events.
 */
async function openAiChatStream(baseUrl: string, model: string, maxTokens: number): Promise<StreamSample> {
  const start = performance.now()
  const body = JSON.stringify({ model, messages: MESSAGES, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } })
  // node:http, not fetch: undici's web streams cost the reader more than the gateway costs the stream.
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(`${baseUrl}/chat/completions`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, resolve)
    req.on('error', reject)
    req.end(body)
  })
  if (res.statusCode !== 200) {
    res.resume()
    throw new Error(`${baseUrl} answered ${res.statusCode}`)
  }
  res.setEncoding('utf8')
  const events: number[] = []
  let tokens = 0
  let buffered = ''
  for await (const text of res) {
    buffered += text
    let end
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const event = buffered.slice(0, end)
      buffered = buffered.slice(end + 2)
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue
      const data = JSON.parse(event.slice(6)) as { choices?: Array<{ delta?: { content?: string } }>; usage?: { completion_tokens: number } }
      if (data.choices?.[0]?.delta?.content) events.push(performance.now())
      if (data.usage) tokens = data.usage.completion_tokens
    }
  }
  return sampleOf(start, events, tokens || events.length)
}

function sampleOf(start: number, events: number[], tokens: number): StreamSample {
  const totalMs = performance.now() - start
  const [first, last] = [events[0], events[events.length - 1]]
  const perEvent = events.length > 1 ? (tokens - 1) / (events.length - 1) : 1
  const gaps = events.slice(1).map((t, i) => t - events[i])
  return {
    ttftMs: events.length > 0 ? first - start : NaN,
    itlMs: gaps.flatMap((gap) => Array.from({ length: Math.max(1, Math.round(perEvent)) }, () => gap / perEvent)),
    chunkGapMs: gaps,
    tokens,
    tokensPerSecond: tokens > 1 && last > first ? ((tokens - 1) * 1000) / (last - first) : NaN,
    totalMs
  }
}
