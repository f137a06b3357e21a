import test from 'brittle'
import { PROTOCOL_VERSION } from '../shared/version.ts'
import crypto from 'node:crypto'
import { getLlama } from 'node-llama-cpp'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { connectLocal, ErrorCode, type QvacClient } from '../client/index.ts'
import { MAX_REQUEST_BYTES } from '../client/rpc-call.ts'
import { TOKENIZE_SLICE_CHARS, tokenizeInSlices } from '../daemon/inference/prompt.ts'
import { peerText } from '../daemon/peer-text.ts'
import type { Daemon } from '../daemon/index.ts'
import { connectClient, loopbackTestnet, startDaemon } from './helpers/swarm.ts'
import { eventually, tinyModel } from './helpers/model.ts'
import { startSeeder } from './helpers/seeder.ts'
import { runQvacd, startQvacd } from './helpers/cli.ts'
import { statusToTable } from '../bin/format/status.ts'
import type { Assertion } from 'brittle'
import HyperDHT from 'hyperdht'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import readline from 'node:readline'
import type { Testnet } from 'hyperdht/testnet.js'

const MiB = 1024 * 1024

async function operator(t: Assertion, daemon: Daemon): Promise<QvacClient> {
  const client = await connectLocal({ storage: daemon.storage })
  t.teardown(() => client.close())
  return client
}

function bootstrapOf(testnet: Testnet): string {
  return testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
}

function rssMiB(): number {
  return Math.round(process.memoryUsage().rss / MiB)
}

test('oversized model configs are refused before any work, from a peer and from the operator', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const daemon = await startDaemon(t, testnet)
  const peer = await connectClient(t, testnet)
  const local = await operator(t, daemon)
  const rssBefore = rssMiB()

  for (const [who, client] of [['peer', peer], ['operator', local]] as const) {
    const started = performance.now()
    const huge = await client.loadModel({ source: model.path, config: { contextSize: 1e9 } }).catch((e) => e)
    t.is(huge.code, ErrorCode.RESOURCE_LIMIT_EXCEEDED, `${who}: contextSize 1e9: ${huge.message}`)
    t.is(huge.details.limit, 'max-context')
    t.comment(`${who}: contextSize 1e9 refused in ${(performance.now() - started).toFixed(1)} ms`)
    const wide = await client.loadModel({ source: model.path, config: { contextSize: 65536, sequences: 64 } }).catch((e) => e)
    t.is(wide.code, ErrorCode.RESOURCE_LIMIT_EXCEEDED, `${who}: 64 sequences x 65536: ${wide.message}`)
    const many = await client.loadModel({ source: model.path, config: { sequences: 64 } }).catch((e) => e)
    t.is(many.details.limit, 'max-sequences', `${who}: 64 sequences`)
  }
  t.is(daemon.models.list().length, 0, 'nothing was loaded')
  t.comment(`RSS during the probes: ${rssBefore} MiB before, ${rssMiB()} MiB after (daemon and clients in this process)`)
})

test('--max-models counts every distinct config; the same config is the same model', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const daemon = await startDaemon(t, testnet, { limits: { maxModels: 2 } })
  const local = await operator(t, daemon)
  const first = await local.loadModel({ source: model.path, config: { threads: 1, sequences: 1 } })
  await local.loadModel({ source: model.path, config: { threads: 1, sequences: 2 } })
  const third = await local.loadModel({ source: model.path, config: { threads: 1, sequences: 3 } }).catch((e) => e)
  t.is(third.code, ErrorCode.RESOURCE_LIMIT_EXCEEDED, third.message)
  t.is(third.details.limit, 'max-models')
  const again = await local.loadModel({ source: model.path, config: { threads: 1, sequences: 1 } })
  t.is(again.modelId, first.modelId, 'a config already loaded is one more reference, not one more model')
  await local.unloadModel(first.modelId)
  await local.unloadModel(first.modelId)
  const now = await local.loadModel({ source: model.path, config: { threads: 1, sequences: 3 } })
  t.ok(now.modelId, 'after an unload there is room again')
})

test('a model that would pass --max-memory or eat the headroom is refused from its estimate', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const capped = await startDaemon(t, testnet, { limits: { maxMemory: 1 * MiB } })
  const cappedOperator = await operator(t, capped)
  const overCap = await cappedOperator.loadModel({ source: model.path, config: { threads: 1 } }).catch((e) => e)
  t.is(overCap.code, ErrorCode.RESOURCE_LIMIT_EXCEEDED, overCap.message)
  t.is(overCap.details.limit, 'max-memory')
  t.ok(overCap.details.neededBytes > 1 * MiB, `estimated ${overCap.details.neededBytes} bytes`)

  const tight = await startDaemon(t, testnet, { topic: 'tight', limits: { memoryHeadroom: 1024 * 1024 * MiB } })
  const tightOperator = await operator(t, tight)
  const noRoom = await tightOperator.loadModel({ source: model.path, config: { threads: 1 } }).catch((e) => e)
  t.is(noRoom.code, ErrorCode.RESOURCE_LIMIT_EXCEEDED, noRoom.message)
  t.is(noRoom.details.limit, 'free-memory')

  const roomy = await startDaemon(t, testnet, { topic: 'roomy', limits: { maxMemory: 64 * MiB } })
  const loaded = await (await operator(t, roomy)).loadModel({ source: model.path, config: { threads: 1 } })
  t.is(loaded.info.contextSize, 512, "the default context is the model's trained one, within --max-context")
  t.ok(roomy.models.reservedMemory > 0 && roomy.models.reservedMemory <= 64 * MiB, `reserved ${roomy.models.reservedMemory} bytes`)
})

test('tokenizing in slices gives the tokens of one call', async (t) => {
  const llama = await getLlama({ gpu: false, build: 'never' })
  t.teardown(() => llama.dispose())
  const model = await llama.loadModel({ modelPath: (await tinyModel(t)).path })
  const words = ['hello', 'world', 'a', 'token', 'of', 'text', 'qvacd', 'x']
  const rnd = seeded(7)
  let text = ''
  while (text.length < 3 * TOKENIZE_SLICE_CHARS) text += words[Math.floor(rnd() * words.length)] + (rnd() < 0.1 ? '\n' : ' ')
  const whole = model.tokenize(text, false, 'trimLeadingSpace')
  const sliced = await tokenizeInSlices(model.tokenizer, text, false, 'trimLeadingSpace')
  t.alike(sliced, whole, `${whole.length} tokens over ${Math.ceil(text.length / TOKENIZE_SLICE_CHARS)} slices`)

  // What one call on the largest allowed prompt costs (the event loop stalled this long before).
  const big = 'the quick brown fox jumps over the lazy dog '.repeat(Math.floor(MiB / 44))
  const cpu = process.cpuUsage()
  model.tokenize(big)
  const once = process.cpuUsage(cpu)
  t.comment(`1 MiB in one tokenize call: ${((once.user + once.system) / 1000).toFixed(0)} ms of CPU; in slices of ${TOKENIZE_SLICE_CHARS} chars each is ~1/1000 of the text`)
})

test('a prompt over --max-prompt-bytes is refused before tokenizing; the largest allowed never stalls other peers', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const daemon = await startDaemon(t, testnet)
  const { modelId } = await (await operator(t, daemon)).loadModel({ source: model.path, config: { threads: 1 } })
  const peer = await connectClient(t, testnet)
  const other = await connectClient(t, testnet)

  const over = await peer.infer({ modelId, prompt: 'a'.repeat(MiB + 1), maxTokens: 4 }).trailer
  t.is(over.error?.code, ErrorCode.PROMPT_TOO_LONG, over.error?.message)
  t.is(over.error?.details?.maxPromptBytes, MiB)

  // The largest prompt allowed (1 MiB of words) and the 15 MB probe, each sent by a client
  // in its own process while another peer pings: the event loop measured here is the daemon's.
  // The same pings without a prompt first: on a shared machine the scheduler alone stalls it.
  const baseline = await pingWhile(other, new Promise((resolve) => setTimeout(resolve, 1000)))
  t.comment(`event loop, pings only:       ${baseline.summary}`)
  for (const bytes of [MiB, 15_000_000]) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(import.meta.dirname, 'helpers', 'prompt-client.ts'), bootstrapOf(testnet), 'qvacd-test', modelId, String(bytes)],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    const exited = once(child, 'exit')
    t.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    })
    const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
    await lines.next()
    const started = performance.now()
    let answer = ''
    const loaded = await pingWhile(other, lines.next().then((line) => (answer = line.value as string)))
    t.is(answer, 'PROMPT_TOO_LONG', `${bytes} bytes: ${bytes > MiB ? 'over --max-prompt-bytes' : 'tokenized, then too long for the 512-token context'}`)
    t.ok(loaded.pings > 1, `the other peer was answered ${loaded.pings} times meanwhile`)
    t.comment(`event loop with ${(bytes / MiB).toFixed(1)} MiB prompt: ${loaded.summary}; answered after ${(performance.now() - started).toFixed(0)} ms`)
    await exited
  }
})

/** Pings in a loop until `until` settles; the event loop's delay meanwhile. */
async function pingWhile(client: QvacClient, until: Promise<unknown>): Promise<{ pings: number; summary: string }> {
  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
  let ended = false
  void until.then(() => (ended = true))
  let pings = 0
  let slowest = 0
  while (!ended) {
    const sent = performance.now()
    await client.ping()
    slowest = Math.max(slowest, performance.now() - sent)
    pings++
  }
  delay.disable()
  const ms = (ns: number) => (ns / 1e6).toFixed(1)
  return {
    pings,
    summary: `max stall ${ms(delay.max)} ms, p99 ${ms(delay.percentile(99))} ms, p50 ${ms(delay.percentile(50))} ms; ${pings} pings, slowest ${slowest.toFixed(1)} ms`
  }
}

test('a request over the frame limit is REQUEST_TOO_LARGE on the client, and the connection stays', async (t) => {
  const testnet = await loopbackTestnet(t)
  await startDaemon(t, testnet)
  const peer = await connectClient(t, testnet)
  const trailer = await peer.infer({ modelId: 'x', prompt: 'a'.repeat(MAX_REQUEST_BYTES + 1), maxTokens: 1 }).trailer
  t.is(trailer.error?.code, ErrorCode.REQUEST_TOO_LARGE, trailer.error?.message)
  t.is((await peer.ping()).protocolVersion, PROTOCOL_VERSION, 'the same connection still answers')
})

test('the client library refuses bad numbers with INVALID_ARGUMENT before encoding', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet)
  const peer = await connectClient(t, testnet)
  for (const input of [{ maxTokens: 1.5 }, { maxTokens: -1 }, { maxTokens: NaN }, { topK: Infinity }, { seed: -3 }, { temperature: NaN }, { topP: Infinity }]) {
    const trailer = await peer.infer({ modelId: 'x', prompt: 'hi', ...input }).trailer
    t.is(trailer.error?.code, ErrorCode.INVALID_ARGUMENT, `${JSON.stringify(input, (_k, v) => (typeof v === 'number' ? String(v) : v))}: ${trailer.error?.message}`)
  }
  const window = await peer.infer({ modelId: 'x', prompt: 'hi' }, { window: 0.5 }).trailer
  t.is(window.error?.code, ErrorCode.INVALID_ARGUMENT, 'window 0.5')
  for (const config of [{ contextSize: -1 }, { contextSize: 1.5 }, { threads: NaN }, { sequences: Infinity }, { maxQueueDepth: -1 }]) {
    const err = await peer.loadModel({ source: 'x', config }).catch((e) => e)
    t.is(err.code, ErrorCode.INVALID_ARGUMENT, `${JSON.stringify(config, (_k, v) => (typeof v === 'number' ? String(v) : v))}: ${err.message}`)
  }
  t.is(daemon.router.methodStats().find((m) => m.method === 'infer')?.calls, 0, 'nothing reached the daemon')
})

test('per-peer stream limits: one peer over its limit gets QUEUE_FULL, another peer and the operator are unaffected', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const daemon = await startDaemon(t, testnet, { peerLimits: { maxStreams: 1, maxQueued: 1 } })
  const local = await operator(t, daemon)
  const { modelId } = await local.loadModel({ source: model.path, config: { threads: 1, sequences: 4 } })
  const greedyKey = HyperDHT.keyPair()
  const greedy = await connectClient(t, testnet, { keyPair: greedyKey })
  const polite = await connectClient(t, testnet)

  // Window 1 and nobody reading: the stream holds its slot, waiting for credit.
  const holding = greedy.infer({ modelId, prompt: 'hold', maxTokens: 2000, temperature: 0 }, { window: 1 })
  await eventually(async () => daemon.router.streams(), (s) => s.some((x) => x.state === 'waiting-for-credit'))
  const waiting = greedy.infer({ modelId, prompt: 'wait', maxTokens: 2, temperature: 0 })
  await eventually(async () => daemon.peerLimits.usage(), (u) => u.some((p) => p.queuedStreams === 1))
  const refused = await greedy.infer({ modelId, prompt: 'more', maxTokens: 2, temperature: 0 }).trailer
  t.is(refused.error?.code, ErrorCode.QUEUE_FULL, refused.error?.message)
  t.is(refused.error?.details?.scope, 'peer')

  const served = await polite.infer({ modelId, prompt: 'mine', maxTokens: 3, temperature: 0 }).trailer
  t.is(served.stopReason, 'length', 'another peer streams at once')
  const operatorStreams = await Promise.all([1, 2, 3].map(() => local.infer({ modelId, prompt: 'op', maxTokens: 2, temperature: 0 }).trailer))
  t.ok(operatorStreams.every((s) => s.stopReason === 'length'), 'the operator is not limited')

  const status = await local.status()
  const usage = status.peerUsage.find((p) => p.publicKey.equals(greedyKey.publicKey))
  t.is(status.peerLimits.maxStreams, 1, 'status shows the limits')
  t.ok(usage, 'status shows the greedy peer')
  t.is(usage?.activeStreams, 1)
  t.is(usage?.queuedStreams, 1)
  t.is(usage?.refusals, 1)

  await holding.cancel()
  t.is((await waiting.trailer).stopReason, 'length', 'the queued stream runs once the slot is free')
})

test('per-peer loads per minute and bytes per hour: RATE_LIMITED for that peer only; the operator is exempt', async (t) => {
  const testnet = await loopbackTestnet(t)
  const seeder = await startSeeder(t, testnet)
  const published = await seeder.publish('blob.bin', crypto.randomBytes(64 * 1024))
  const other = await seeder.publish('other.bin', crypto.randomBytes(64 * 1024))
  const daemon = await startDaemon(t, testnet, { peerLimits: { loadsPerMinute: 2, downloadBytesPerHour: 32 * 1024 } })
  const greedy = await connectClient(t, testnet)
  const polite = await connectClient(t, testnet)
  const local = await operator(t, daemon)

  const first = await greedy.downloadAsset({ source: published.uri })
  t.is(first.stats.totalBytesDownloaded, 64 * 1024, 'the first download is served')
  const overBytes = await greedy.downloadAsset({ source: other.uri }).catch((e) => e)
  t.is(overBytes.code, ErrorCode.RATE_LIMITED, overBytes.message)
  t.is(overBytes.details.limit, 'peer-download-bytes-per-hour')

  const missing = 'hyperdrive://' + 'a'.repeat(52) + '/nothing.gguf'
  for (let i = 0; i < 2; i++) await polite.loadModel({ source: missing, config: { threads: 1 } }, { timeout: 1500 }).catch(() => {})
  const overLoads = await polite.loadModel({ source: missing }).catch((e) => e)
  t.is(overLoads.code, ErrorCode.RATE_LIMITED, overLoads.message)
  t.is(overLoads.details.limit, 'peer-loads-per-minute')
  t.ok(overLoads.details.retryAfterMs > 0, `retry after ${overLoads.details.retryAfterMs} ms`)

  const third = await connectClient(t, testnet)
  const fresh = await third.downloadAsset({ source: other.uri })
  t.is(fresh.asset.size, 64 * 1024, 'a third peer is unaffected')
  for (let i = 0; i < 3; i++) await local.downloadAsset({ source: published.uri })
  t.pass('the operator is not limited')
  const status = await local.status()
  t.is(status.peerUsage.length, 3, 'status lists the three peers')
  t.ok(status.peerUsage.some((p) => p.bytesDownloadedLastHour === 64 * 1024 && p.refusals === 1), 'with their bytes and refusals')
  const table = statusToTable(status)
  t.ok(table.includes('LOADS/MIN') && table.includes('2/2') && table.includes('64.0 KiB/32.0 KiB'), 'qvacd status prints usage against the limits')
})

test('qvacd start takes the limits as flags; qvacd status shows the per-peer limits', async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  const flags = ['--max-context', '64', '--peer-max-streams', '2', '--peer-loads-per-minute', '5', '--idle-timeout', '3000']
  await startQvacd(t, ['--topic', 'limits-cli', '--storage', storage, '--bootstrap', bootstrap, ...flags])
  const { code, stdout } = await runQvacd(['status', '--storage', storage, '--json'])
  t.is(code, 0)
  const status = JSON.parse(stdout)
  t.is(status.peerLimits.maxStreams, 2, '--peer-max-streams')
  t.is(status.peerLimits.loadsPerMinute, 5, '--peer-loads-per-minute')
  t.is(status.peerLimits.maxQueued, 8, 'the defaults for the others')
  const local = await connectLocal({ storage })
  t.teardown(() => local.close())
  const err = await local.loadModel({ source: 'any.gguf', config: { contextSize: 65 } }).catch((e) => e)
  t.is(err.code, ErrorCode.RESOURCE_LIMIT_EXCEEDED, `--max-context: ${err.message}`)
})

test('peer strings are escaped for logs: no forged line, no terminal escape', (t) => {
  const evil = '1.0.0\n2026-01-01T00:00:00.000Z info  peer joined FAKE\u001b[2J\u202e\\'
  const safe = peerText(evil)
  t.absent(/[\n\r\u001b\u202e]/.test(safe), safe)
  t.ok(safe.includes('\\u000a') && safe.includes('\\u001b') && safe.includes('\\\\'), 'escapes stay visible')
  t.ok(peerText('x'.repeat(1000)).length < 210, 'cut to one short line')
})

function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}
