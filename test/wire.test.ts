import test from 'brittle'
import c from 'compact-encoding'
import crypto from 'hypercore-crypto'
import {
  handshake,
  requestFrame,
  responseFrame,
  statusResponse,
  pingResponse,
  PeerRole,
  presentFlags,
  inferRequest,
  encodeProfiledResponse,
  completeEnvelope,
  type WireProfiling,
  type DaemonStatus
} from '../shared/messages.ts'
import type { Encoder as Encoding } from 'compact-encoding'
import { QvacError, ErrorCode, toWireError } from '../shared/errors.ts'
import { topicFromName, parseKey, formatKey } from '../shared/keys.ts'
import { idText, ID_TEXT_LENGTH, newTraceId, nextId, writeIdText } from '../shared/profiler/ids.ts'

test('status response round-trips through its codec', (t) => {
  const status: DaemonStatus = {
    publicKey: crypto.randomBytes(32),
    topic: topicFromName('wire'),
    topicName: 'wire',
    version: '0.1.0',
    protocolVersion: 1,
    startedAt: Date.now() - 5000,
    uptimeMs: 5000,
    peers: [{ publicKey: crypto.randomBytes(32), connectedAt: Date.now(), calls: 3, inFlight: 1 }],
    models: [
      {
        modelId: 'm1',
        source: 'hyperdrive://x/model.gguf',
        sizeBytes: 669440,
        loadedAt: Date.now(),
        references: 2,
        sequences: 4,
        activeStreams: 1,
        queuedStreams: 3,
        totalLoadTime: 41.5
      }
    ],
    streams: [
      {
        streamId: 7,
        modelId: 'm1',
        peer: null,
        state: 'waiting-for-credit',
        generatedTokens: 40,
        framesSent: 9,
        credits: 0,
        bufferedTokens: 32
      },
      {
        streamId: 8,
        modelId: 'm1',
        peer: crypto.randomBytes(32),
        state: 'generating',
        generatedTokens: 1,
        framesSent: 1,
        credits: 15,
        bufferedTokens: 0
      }
    ],
    inFlight: 1,
    methods: [{ method: 'ping', calls: 7, errors: 2 }],
    metrics: {
      'ping.totalServerMs': { type: 'duration', count: 7, min: 0.01, max: 2.5, avg: 0.4, sum: 2.8, last: 0.02, p50: 0.05, p90: 1.1, p95: 2.4, p99: 2.5 },
      'infer.tokensPerSecond': { type: 'rate', count: 1, min: 2000, max: 2000, avg: 2000, sum: 2000, last: 2000, p50: 2000, p90: 2000, p95: 2000, p99: 2000 }
    },
    peerLimits: { maxStreams: 4, maxQueued: 8, loadsPerMinute: 30, downloadBytesPerHour: 8 * 2 ** 30 },
    peerUsage: [
      { publicKey: crypto.randomBytes(32), activeStreams: 2, queuedStreams: 1, loadsLastMinute: 3, bytesDownloadedLastHour: 669440, refusals: 4 }
    ],
    backend: 'local build, OpenMP'
  }
  t.alike(c.decode(statusResponse, c.encode(statusResponse, status)), status)
})

test('request frame carries the deadline only when given', (t) => {
  const frame = requestFrame(pingResponse)
  const body = { time: 1, version: 'v', protocolVersion: 1 }
  const without = c.encode(frame, { header: {}, body })
  const withTimeout = c.encode(frame, { header: { timeoutMs: 2500 }, body })
  t.alike(c.decode(frame, without), { header: {}, body })
  t.alike(c.decode(frame, withTimeout), { header: { timeoutMs: 2500 }, body })
  t.ok(withTimeout.byteLength > without.byteLength)
})

test('a request with trailing bytes is malformed', async (t) => {
  const frame = requestFrame(c.none)
  const buf = Buffer.concat([c.encode(frame, { header: {}, body: null }), Buffer.from([1, 2, 3])])
  await t.exception.all(() => c.decode(frame, buf), /trailing bytes/)
})

test('error envelope keeps code, name, message and typed details', (t) => {
  const frame = responseFrame(c.none)
  const err = new QvacError('MODEL_NOT_FOUND', 'no such model', {
    details: { name: 'tiny', size: 12.5, cached: false, hint: null }
  })
  const decoded = c.decode(frame, c.encode(frame, { ok: false, error: toWireError(err) }))
  t.is(decoded.ok, false)
  if (decoded.ok) return
  const back = QvacError.fromWire(decoded.error)
  t.ok(back instanceof QvacError)
  t.is(back.code, ErrorCode.MODEL_NOT_FOUND)
  t.is(back.code, 52002)
  t.is(back.name, 'MODEL_NOT_FOUND')
  t.is(back.message, 'no such model')
  t.alike(back.details, { name: 'tiny', size: 12.5, cached: false, hint: null })
})

test('an unexpected error leaves without its message or stack unless debug is on', (t) => {
  const secret = new TypeError('cannot read /home/operator/secret')
  const quiet = toWireError(secret)
  t.is(quiet.code, ErrorCode.INTERNAL_ERROR)
  t.absent(quiet.message.includes('secret'))
  t.absent(quiet.remoteStack)
  const loud = toWireError(secret, true)
  t.ok(loud.message.includes('secret'))
  t.ok(loud.remoteStack?.includes('TypeError'))
})

test('an error code this side does not know keeps its number and name', (t) => {
  const back = QvacError.fromWire({ code: 54999, name: 'FUTURE_ERROR', message: 'from a newer daemon' })
  t.is(back.code, 54999)
  t.is(back.name, 'FUTURE_ERROR')
})

test('handshake of a later version still yields its protocol version', (t) => {
  const later = Buffer.concat([
    c.encode(handshake, { protocolVersion: 7, softwareVersion: '9.0.0', role: PeerRole.DAEMON }),
    Buffer.from('extra fields of version 7')
  ])
  t.is(c.decode(handshake, later).protocolVersion, 7)
  const bare = c.encode(c.uint, 8)
  t.is(c.decode(handshake, bare).protocolVersion, 8)
})

test('keys parse from z32 and hex and print as z32; bad keys are typed errors', async (t) => {
  const key = crypto.randomBytes(32)
  const z32 = formatKey(key)
  t.is(z32.length, 52)
  t.alike(parseKey(z32), key)
  t.alike(parseKey(key.toString('hex')), key)
  await t.exception(() => parseKey('not-a-key'), /invalid key/)
  try {
    parseKey('abc', 'peer key')
  } catch (err) {
    t.is((err as QvacError).code, ErrorCode.INVALID_ARGUMENT)
  }
})

test('topic names hash to distinct 32-byte topics', (t) => {
  t.is(topicFromName('a').byteLength, 32)
  t.alike(topicFromName('a'), topicFromName('a'))
  t.unlike(topicFromName('a'), topicFromName('b'))
})

test('a message with nine optional fields round-trips, flags of three bytes included', (t) => {
  // Flags of 253 and more take three bytes as a uint: preencode must reserve what encode writes.
  type Nine = Array<number | undefined>
  const nine: Encoding<Nine> = {
    preencode(state, m) {
      c.uint.preencode(state, presentFlags(m))
      for (const v of m) if (v !== undefined) c.uint.preencode(state, v)
    },
    encode(state, m) {
      c.uint.encode(state, presentFlags(m))
      for (const v of m) if (v !== undefined) c.uint.encode(state, v)
    },
    decode(state) {
      const flags = c.uint.decode(state)
      const m: Nine = []
      for (let i = 0; i < 9; i++) m.push(flags & (2 ** i) ? c.uint.decode(state) : undefined)
      return m
    }
  }
  const all = [1, 2, 3, 4, 5, 6, 7, 8, 9]
  t.is(presentFlags(all), 511)
  t.alike(c.decode(nine, c.encode(nine, all)), all)
  const most = [1, undefined, 3, 4, 5, 6, 7, 8, undefined]
  t.is(presentFlags(most), 253, 'the first value that takes three bytes')
  t.alike(c.decode(nine, c.encode(nine, most)), most)
})

test('an infer request with every optional field round-trips', (t) => {
  const req = {
    streamId: 7,
    window: 16,
    modelId: 'm',
    prompt: 'p',
    messages: [{ role: 'user' as const, content: 'hi' }],
    maxTokens: 5,
    temperature: 0.5,
    topP: 0.9,
    topK: 40,
    seed: 42,
    stop: ['\n'],
    delegate: { peer: crypto.randomBytes(32), fallbackToLocal: true }
  }
  t.alike(c.decode(inferRequest, c.encode(inferRequest, req)), req)
})

test('an id written from its number is its text: 20 lowercase hex characters, the top of the counter included', (t) => {
  const ids = [0, 1, 0xabc, 0x7fffffff, 0x80000000, 0xfffffffe, nextId()]
  for (const id of ids) {
    const text = idText(id)
    t.is(text.length, ID_TEXT_LENGTH)
    t.ok(/^[0-9a-f]{20}$/.test(text), text)
    t.is(text.slice(-8), id.toString(16).padStart(8, '0'))
    const buffer = Buffer.alloc(ID_TEXT_LENGTH + 4, 0xee)
    t.is(writeIdText(buffer, 2, id), 2 + ID_TEXT_LENGTH)
    t.is(buffer.toString('latin1', 2, 2 + ID_TEXT_LENGTH), text)
    t.alike([buffer[0], buffer[1], buffer[22], buffer[23]], [0xee, 0xee, 0xee, 0xee], 'nothing written outside it')
  }
  const a = newTraceId()
  const b = newTraceId()
  t.not(a, b, 'every id is new')
  t.is(a.slice(0, 12), b.slice(0, 12), 'one prefix per process')
})

test('a profiled response is the frame codec’s bytes: sized from string lengths, any UTF-8, named values as own keys', (t) => {
  const body = c.encode(pingResponse, { time: 1_700_000_000_000, version: '0.1.0', protocolVersion: 1 }) as Buffer
  const id = nextId()
  const gauges: Record<string, number> = { totalLoadTime: 12.5, 'naïve ☃ 😀': 1 }
  Object.defineProperty(gauges, '__proto__', { value: 7, enumerable: true, writable: true, configurable: true })
  const profiling: WireProfiling = {
    serverBreakdown: { decodeMs: 0.01, queueMs: 0, handlerMs: 0.2, encodeMs: 0.03, totalServerMs: 0.25 },
    events: [
      { op: 'loadModel', kind: 'load', profileId: 'ab'.repeat(10), traceId: 'ß'.repeat(40), peer: '😀'.repeat(30), hop: 1, ts: 1.5, ms: 2.25, bytes: 4096, gauges, tags: { cacheHit: 'true', 'ключ': '値'.repeat(50) } },
      { op: 'embed', kind: 'inference', profileId: 'p', traceId: 't', peer: 'local', hop: 0, ts: 3, ms: 0.25, gauges: {}, tags: {} }
    ],
    delegationBreakdown: { connectionMs: 1, serverWaitMs: 2, totalDelegationMs: 3 },
    call: { profileId: idText(id), ts: 3, peer: 'ключ' }
  }
  const frame = responseFrame(pingResponse)
  const value = c.decode(pingResponse, body)
  // The daemon's side: the envelope's parts, the profile id as its number.
  const profiled = (m: WireProfiling) =>
    encodeProfiledResponse(pingResponse, value, {
      events: m.events,
      delegationBreakdown: m.delegationBreakdown,
      profileNumber: id,
      sentPeer: m.call.peer,
      finish: () => m.serverBreakdown,
      startedAt: m.call.ts
    })
  const fast = profiled(profiling)
  t.alike(fast, c.encode(frame, { ok: true, value, profiling }), 'the same bytes as the generic encoder')
  const decoded = c.decode(frame, fast)
  t.alike(decoded.profiling, profiling, 'every field back, unicode and the odd name included')
  const loaded = decoded.profiling?.events[0]
  t.ok(loaded && Object.hasOwn(loaded.gauges, '__proto__'), '__proto__ is a value, not a prototype')
  t.is(Object.getPrototypeOf(loaded?.gauges), Object.prototype)
  t.alike(decoded.profiling?.events[1], profiling.events[1], 'no bytes field when none was sent')
  t.absent('bytes' in (decoded.profiling?.events[1] ?? {}))
  const { peer: _, ...local } = profiling.call
  t.alike(c.decode(frame, profiled({ ...profiling, call: local })).profiling?.call, local, 'no peer when none was sent')

  const plainBytes = (m: WireProfiling) => {
    const state = c.state()
    frame.preencode(state, { ok: true, value, profiling: m })
    state.buffer = new Uint8Array(state.end)
    frame.encode(state, { ok: true, value, profiling: m })
    return Buffer.from(state.buffer)
  }
  t.alike(plainBytes(profiling), fast, 'the same bytes into a plain Uint8Array (no Buffer methods on the way)')

  const durations = { decodeMs: 0.0123456, queueMs: -1, handlerMs: NaN, encodeMs: 4321.5, totalServerMs: 1e-7 }
  t.alike(c.decode(frame, profiled({ ...profiling, serverBreakdown: durations })).profiling?.serverBreakdown, {
    decodeMs: 0.012346, queueMs: 0, handlerMs: 0, encodeMs: 4321.5, totalServerMs: 0
  }, 'durations travel as whole nanoseconds; none is negative or NaN')
  t.alike(plainBytes({ ...profiling, serverBreakdown: durations }), profiled({ ...profiling, serverBreakdown: durations }), 'every uint width, the same bytes either way')

  // The last event's tag count, before the call's fields (profile id 21 bytes, ts 8, peer 9) and
  // the 24-byte delegation breakdown, forged to 2^31 - 1.
  const tail = 21 + 8 + 9 + 24
  t.is(fast[fast.length - tail - 1], 0)
  const forge = (count: number[]) => Buffer.concat([fast.subarray(0, fast.length - tail - 1), Buffer.from(count), fast.subarray(fast.length - tail)])
  t.exception(() => c.decode(frame, forge([0xfe, 0xff, 0xff, 0xff, 0x7f])), /too big/, 'a forged count is refused before any work')
  t.exception(() => c.decode(frame, forge([0xfe, 0x00, 0x00, 0x10, 0x00])), /Out of bounds/, 'a count within the bound runs out of buffer, not of memory')
})

test('the daemon’s own rpc event of a call travels as its profile id and start, and is rebuilt whole from what the caller knows', (t) => {
  const serverBreakdown = { decodeMs: 0.01, queueMs: 0, handlerMs: 0.2, encodeMs: 0.03, totalServerMs: 0.25 }
  const handler = { op: 'embed', kind: 'inference' as const, profileId: 'p1', traceId: 'p1', peer: 'k', hop: 1, ts: 3, ms: 0.2, gauges: { n: 1 }, tags: {} }
  const wire = (peer?: string): WireProfiling => ({ serverBreakdown, events: [{ ...handler }], call: peer === undefined ? { profileId: 'p1', ts: 5 } : { profileId: 'p1', ts: 5, peer } })
  const swarm = completeEnvelope(wire(), { method: 'embed', traceId: undefined, hop: 1, daemon: 'daemon-key' })
  t.alike(swarm, {
    serverBreakdown,
    events: [handler, { op: 'embed', kind: 'rpc', profileId: 'p1', traceId: 'p1', peer: 'daemon-key', hop: 1, ts: 5, ms: 0.25, gauges: {}, tags: {} }]
  }, 'op = the method, trace = the profile id without one of the caller’s, hop as sent, ms = totalServerMs, the peer the connection reached; last, as the daemon emits it')
  const local = completeEnvelope(wire('sent-key'), { method: 'ping', traceId: 'caller-trace', hop: 0, daemon: null })
  t.is(local.events[1].peer, 'sent-key', 'over the control socket the daemon says who it is')
  t.is(local.events[1].traceId, 'caller-trace', 'a trace of the caller’s is kept')
  t.is(completeEnvelope(wire('claimed-key'), { method: 'ping', traceId: undefined, hop: 0, daemon: 'daemon-key' }).events[1].peer, 'daemon-key', 'over the swarm the key the connection reached, whatever the daemon claims')
  t.absent('delegationBreakdown' in local)
  const delegated = completeEnvelope({ ...wire(), delegationBreakdown: { connectionMs: 1, serverWaitMs: 2, totalDelegationMs: 3 } }, { method: 'embed', traceId: undefined, hop: 0, daemon: 'd' })
  t.alike(delegated.delegationBreakdown, { connectionMs: 1, serverWaitMs: 2, totalDelegationMs: 3 })
})
