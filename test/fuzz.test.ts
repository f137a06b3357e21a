import test from 'brittle'
import c from 'compact-encoding'
import ProtomuxRPC from 'protomux-rpc'
import HyperDHT from 'hyperdht'
import { createDht } from '../client/dht.ts'
import { keepAlive } from '../client/connect-daemon.ts'
import { errorNameOf } from '../shared/errors.ts'
import { handshake, methods, requestFrame, responseFrame, type MethodName } from '../shared/messages.ts'
import { PROTOCOL_VERSION, RPC_PROTOCOL } from '../shared/version.ts'
import { PeerRole } from '../shared/messages.ts'
import type { Logger } from '../daemon/log.ts'
import type { Testnet } from 'hyperdht/testnet.js'
import type { Assertion } from 'brittle'
import { connectClient, loopbackTestnet, startDaemon } from './helpers/swarm.ts'

const ROUNDS = 40 // × 11 methods × 1 mutation each = 440 malformed requests

/** A valid request per method (short deadlines, so a mutation that still decodes ends soon). */
const samples: { [M in MethodName]: unknown } = {
  ping: null,
  status: null,
  downloadAsset: { source: 'hyperdrive://' + 'y'.repeat(52) + '/m.gguf', expectedSha256: 'ab'.repeat(32), progressId: 3 },
  loadModel: { source: 'model.gguf', modelType: 'llm', config: { contextSize: 64, threads: 1, sequences: 1 } },
  unloadModel: { modelId: 'abcdef0123456789' },
  infer: { streamId: 9, window: 4, modelId: 'abcdef0123456789', prompt: 'hi', maxTokens: 4, temperature: 0.5, stop: ['x'] },
  cancel: { streamId: 9 },
  listCache: null,
  removeCache: { target: 'abcdef0123456789', force: true },
  listLoaded: null,
  embed: { modelId: 'abcdef0123456789', inputs: ['hi', 'there'] }
}

/** Well-formed requests with hostile values: they pass decoding and reach each handler. */
const hostile: { [M in MethodName]: unknown[] } = {
  ping: [null],
  status: [null],
  downloadAsset: [
    { source: '' },
    { source: 'gopher://x/y' },
    { source: 'hyperdrive://short/x', expectedSha256: 'zz' },
    { source: '\u0000\n../../etc', progressId: 2 ** 40 }
  ],
  loadModel: [
    { source: '', modelType: 'llm', config: {} },
    { source: 'm.gguf', modelType: 'diffusion', config: {} },
    { source: 'm.gguf', modelType: 'llm', config: { contextSize: 2 ** 40 } },
    { source: 'm.gguf', modelType: 'llm', config: { sequences: 0, threads: 0 } },
    { source: 'm.gguf', modelType: 'llm', config: { maxQueueDepth: 2 ** 50 } }
  ],
  unloadModel: [{ modelId: '' }, { modelId: 'x'.repeat(4096) }],
  infer: [
    { streamId: 1, window: 0, modelId: 'm', prompt: 'x', maxTokens: 1, stop: [] },
    { streamId: 2, window: 4, modelId: 'm', prompt: 'x', messages: [{ role: 'user', content: 'y' }], maxTokens: 1, stop: [] },
    { streamId: 3, window: 4, modelId: 'm', maxTokens: 1, stop: [] },
    { streamId: 4, window: 4, modelId: 'm', prompt: 'x', maxTokens: 2 ** 50, stop: [] },
    { streamId: 5, window: 2 ** 40, modelId: 'm', prompt: 'x', maxTokens: 1, temperature: -1, topP: 7, stop: [] },
    { streamId: 6, window: 4, modelId: 'm', messages: [], maxTokens: 1, stop: [] },
    { streamId: 7, window: 4, modelId: 'm', prompt: 'x', maxTokens: 1, stop: [], jsonSchema: '{"oneOf":5}', grammar: 'root ::= x' }
  ],
  cancel: [{ streamId: 0 }, { streamId: 2 ** 50 }],
  listCache: [null],
  removeCache: [{ target: '', force: true }, { target: '/etc/passwd', force: true }, { target: '../../x', force: false }],
  listLoaded: [null],
  embed: [
    { modelId: '', inputs: [] },
    { modelId: 'm', inputs: [''] },
    { modelId: 'm', inputs: Array.from({ length: 3000 }, () => 'a') }
  ]
}

/** A raw qvac/rpc channel to the daemon: a valid handshake, then whatever bytes the test sends. */
async function rawChannel(t: Assertion, testnet: Testnet, daemonKey: Buffer, softwareVersion = 'fuzz'): Promise<ProtomuxRPC> {
  const dht = createDht({ bootstrap: testnet.bootstrap })
  t.teardown(() => dht.destroy())
  const stream = dht.connect(daemonKey, { keyPair: HyperDHT.keyPair() })
  stream.on('error', () => {})
  const rpc = new ProtomuxRPC(stream, {
    protocol: RPC_PROTOCOL,
    handshake: { protocolVersion: PROTOCOL_VERSION, softwareVersion, role: PeerRole.CLIENT },
    handshakeEncoding: handshake
  })
  await new Promise((resolve, reject) => {
    rpc.once('open', resolve)
    rpc.once('close', () => reject(new Error('channel closed before opening')))
  })
  keepAlive(stream)
  t.teardown(() => stream.destroy())
  return rpc
}

test('garbage after a valid handshake, to every method: a typed error each, the daemon stays up, other peers unaffected', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet)
  const fuzzer = await rawChannel(t, testnet, daemon.publicKey)
  const bystander = await connectClient(t, testnet)
  const rnd = seeded(12)

  let pinging = true
  let pings = 0
  const pingLoop = (async () => {
    while (pinging) {
      await bystander.ping({ timeout: 10_000 })
      pings++
    }
  })()

  const kinds = new Map<string, number>()
  const codes = new Map<string, number>()
  let valid = 0
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(
      (Object.keys(methods) as MethodName[]).map(async (method) => {
        const { kind, bytes } = mutate(method, rnd)
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
        const raw = await fuzzer.request<Buffer>(method, bytes, { requestEncoding: c.raw, responseEncoding: c.raw, timeout: 15_000 })
        const response = c.decode(responseFrame(methods[method].response as never), raw)
        // An infer stream's errors travel in its trailer.
        const error = response.ok ? (response.value as { error?: { code: number } } | null)?.error : response.error
        if (!error) return valid++
        const name = errorNameOf(error.code)
        if (!name) t.fail(`${method} ${kind}: unknown code ${error.code}`)
        codes.set(name ?? 'UNKNOWN', (codes.get(name ?? 'UNKNOWN') ?? 0) + 1)
      })
    )
    fuzzer.event('infer.credit', mutate('cancel', rnd).bytes, { requestEncoding: c.raw })
  }
  pinging = false
  await pingLoop

  const total = ROUNDS * Object.keys(methods).length
  const typed = [...codes.values()].reduce((a, b) => a + b, 0)
  t.is(typed + valid, total, `${total} malformed requests answered: ${typed} typed errors, ${valid} still decoded as valid`)
  t.ok(typed > total / 2, 'most are refused')
  t.absent(codes.has('INTERNAL_ERROR'), 'none as an internal error')
  t.ok(pings > 0, `the bystander's pings kept working (${pings})`)
  t.is((await bystander.status()).version.length > 0, true, 'the daemon is up')
  t.comment(`mutations: ${JSON.stringify(Object.fromEntries(kinds))}`)
  t.comment(`errors: ${JSON.stringify(Object.fromEntries(codes))}`)
})

test("a peer's handshake softwareVersion cannot forge log lines or reach the terminal", async (t) => {
  const testnet = await loopbackTestnet(t)
  const lines: string[] = []
  const log: Logger = { level: 'info', debug() {}, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m), child: () => log }
  const daemon = await startDaemon(t, testnet, { log })
  await rawChannel(t, testnet, daemon.publicKey, '9.9.9\n2026-01-01T00:00:00.000Z info  peer joined FORGED\u001b[31m')
  const joined = await waitFor(() => lines.find((l) => l.startsWith('peer joined') && l.includes('9.9.9')))
  t.absent(/[\n\r\u001b]/.test(joined), joined)
  t.ok(joined.includes('\\u000a') && joined.includes('\\u001b'), 'shown escaped')
})

/** One malformed version of a method's request: random bytes, a cut frame, a huge varint, another method's body, or trailing bytes. */
function mutate(method: MethodName, rnd: () => number): { kind: string; bytes: Buffer } {
  const frame = (m: MethodName) =>
    c.encode(requestFrame(methods[m].request as never), { header: { timeoutMs: 2000, traceId: 'fuzz' }, body: samples[m] as never }) as Buffer
  const valid = frame(method)
  const pick = Math.floor(rnd() * 6)
  const random = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)))
  switch (pick) {
    case 0:
      return { kind: 'random', bytes: random(Math.floor(rnd() * 64)) }
    case 1:
      return { kind: 'truncated', bytes: valid.subarray(0, Math.floor(rnd() * valid.byteLength)) }
    case 2: {
      const at = Math.floor(rnd() * valid.byteLength)
      const huge = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
      return { kind: 'huge-varint', bytes: Buffer.concat([valid.subarray(0, at), huge, valid.subarray(at)]) }
    }
    case 3: {
      const others = (Object.keys(methods) as MethodName[]).filter((m) => m !== method)
      return { kind: 'wrong-type', bytes: frame(others[Math.floor(rnd() * others.length)]) }
    }
    case 4:
      return { kind: 'trailing', bytes: Buffer.concat([valid, random(1 + Math.floor(rnd() * 8))]) }
    default: {
      const bodies = hostile[method]
      const body = bodies[Math.floor(rnd() * bodies.length)]
      const bytes = c.encode(requestFrame(methods[method].request as never), { header: { timeoutMs: 2000 }, body: body as never }) as Buffer
      return { kind: 'hostile-values', bytes }
    }
  }
}

async function waitFor<T>(read: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  while (true) {
    const value = read()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`not seen in ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}
