// The qvacd wire schema, protocol version 2: every value that crosses a connection, in one place.
// Read top to bottom: handshake, the request/response frames every method shares, the error
// envelope, then each method's messages. Layout rule: a leading `flags` uint says which optional
// fields follow; fields never change meaning within a protocol version.
import c, { type Encoder as Encoding, type State } from 'compact-encoding'
import type { ErrorDetailValue, ErrorDetails, WireError } from './errors.ts'
import type { DownloadStats, SourceType } from './download-stats.ts'
import type {
  DelegationBreakdown,
  MetricSummary,
  MetricType,
  OperationEvent,
  OperationKind,
  ServerBreakdown
} from './profiler/types.ts'
import { ID_TEXT_LENGTH, writeIdText } from './profiler/ids.ts'

/**
 * The leading flags uint of a message: bit i set when optional field i is present. Preencode and
 * encode both call it: a uint of 253 or more takes three bytes, so reserving one would corrupt.
 */
export function presentFlags(fields: readonly unknown[]): number {
  let flags = 0
  for (let i = 0; i < fields.length; i++) if (fields[i] !== undefined) flags |= 2 ** i
  return flags
}

// compact-encoding's types say Uint8Array; on Node it decodes into Buffers (b4a), which keys are.
const fixed32 = c.fixed32 as Encoding<Buffer>

// ---------------------------------------------------------------------------------------------
// Handshake: sent by both sides when the `qvac/rpc` channel opens. `protocolVersion` is first and
// stays first in every version, so any two versions can read each other's and refuse cleanly.

export const PeerRole = { DAEMON: 0, CLIENT: 1 } as const
export type PeerRole = (typeof PeerRole)[keyof typeof PeerRole]

export interface Handshake {
  protocolVersion: number
  softwareVersion: string
  role: PeerRole
  /** Set by a daemon whose allowlist does not name the peer: the channel closes right after. */
  refused?: boolean
}

// After role, appended: flags (bit 0 refused). Older peers stop reading before it.
const HANDSHAKE_REFUSED = 1

export const handshake: Encoding<Handshake> = {
  preencode(state, m) {
    c.uint.preencode(state, m.protocolVersion)
    c.string.preencode(state, m.softwareVersion)
    c.uint.preencode(state, m.role)
    c.uint.preencode(state, m.refused ? HANDSHAKE_REFUSED : 0)
  },
  encode(state, m) {
    c.uint.encode(state, m.protocolVersion)
    c.string.encode(state, m.softwareVersion)
    c.uint.encode(state, m.role)
    c.uint.encode(state, m.refused ? HANDSHAKE_REFUSED : 0)
  },
  decode(state) {
    const protocolVersion = c.uint.decode(state)
    // Anything after the version may differ in another version: read it only if it parses.
    let softwareVersion = 'unknown'
    let role: PeerRole = PeerRole.CLIENT
    let flags = 0
    try {
      softwareVersion = c.string.decode(state)
      role = c.uint.decode(state) === PeerRole.DAEMON ? PeerRole.DAEMON : PeerRole.CLIENT
      if (state.start < state.end) flags = c.uint.decode(state)
    } catch {}
    state.start = state.end
    const decoded: Handshake = { protocolVersion, softwareVersion, role }
    if (flags & HANDSHAKE_REFUSED) decoded.refused = true
    return decoded
  }
}

// ---------------------------------------------------------------------------------------------
// Request frame: a header every method shares, then the method's own body.
// flags: bit 0 timeoutMs (the caller's remaining deadline, enforced by the daemon too),
//        bit 1 profiling asked for, bit 2 traceId, bit 3 hop (for delegated calls).

export interface RequestHeader {
  timeoutMs?: number
  profiling?: boolean
  /** Follows one call across daemons (hex); the daemon makes one when profiling without it. */
  traceId?: string
  /** 0 from a client, +1 per delegation. */
  hop?: number
}

const headerFlags = (m: RequestHeader) =>
  (m.timeoutMs !== undefined ? 1 : 0) | (m.profiling ? 2 : 0) | (m.traceId !== undefined ? 4 : 0) | (m.hop !== undefined ? 8 : 0)

const requestHeader: Encoding<RequestHeader> = {
  preencode(state, m) {
    c.uint.preencode(state, headerFlags(m))
    if (m.timeoutMs !== undefined) c.uint.preencode(state, m.timeoutMs)
    if (m.traceId !== undefined) c.string.preencode(state, m.traceId)
    if (m.hop !== undefined) c.uint.preencode(state, m.hop)
  },
  encode(state, m) {
    c.uint.encode(state, headerFlags(m))
    if (m.timeoutMs !== undefined) c.uint.encode(state, m.timeoutMs)
    if (m.traceId !== undefined) c.string.encode(state, m.traceId)
    if (m.hop !== undefined) c.uint.encode(state, m.hop)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const header: RequestHeader = {}
    if (flags & 1) header.timeoutMs = c.uint.decode(state)
    if (flags & 2) header.profiling = true
    if (flags & 4) header.traceId = c.string.decode(state)
    if (flags & 8) header.hop = c.uint.decode(state)
    return header
  }
}

export function requestFrame<T>(body: Encoding<T>): Encoding<{ header: RequestHeader; body: T }> {
  return {
    preencode(state, m) {
      requestHeader.preencode(state, m.header)
      body.preencode(state, m.body)
    },
    encode(state, m) {
      requestHeader.encode(state, m.header)
      body.encode(state, m.body)
    },
    decode(state) {
      const header = requestHeader.decode(state)
      return { header, body: decodeToEnd(body, state) }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Response frame: flags bit 0 = error (a WireError follows) else the method's response body;
// bit 1 = the profiling envelope follows (only when the request asked: zero bytes otherwise).
// For `infer` the response is the stream trailer, so its envelope is the `__profilingTrailer`.

/** The profiling envelope a caller gets: `__profiling` on a result, `__profilingTrailer` on a stream's trailer. */
export interface ProfilingEnvelope {
  serverBreakdown: ServerBreakdown
  events: OperationEvent[]
  delegationBreakdown?: DelegationBreakdown
}

/**
 * The envelope as it travels. The daemon's own `rpc` event of the call is sent as what only the
 * daemon knows: its profile id, its start on the daemon's clock and, over the control socket, its
 * key. The rest of it the caller knows already and completeEnvelope() fills in: op = the method,
 * traceId = the one the request carried (else the profile id), hop = the request's, ms =
 * totalServerMs, peer = the key of the daemon the connection reached, no gauges or tags. Every
 * field still arrives; the envelope of a ping shrank from 163 to 48 bytes, and no string but the
 * profile id is written or read for it.
 */
export interface WireProfiling {
  serverBreakdown: ServerBreakdown
  /** Events of the call's work: the handler's, and those of providers it delegated to. */
  events: OperationEvent[]
  delegationBreakdown?: DelegationBreakdown
  call: { profileId: string; ts: number; peer?: string }
}

export type ResponseFrame<T> = ({ ok: true; value: T } | { ok: false; error: WireError }) & { profiling?: WireProfiling }

/** What the caller knows of its own call, to complete the daemon's `rpc` event of it. */
export interface CallSide {
  method: string
  /** The trace id the request carried, if any. */
  traceId: string | undefined
  /** The hop the request carried (0 without one). */
  hop: number
  /** z32 key of the daemon the connection reached; null over the control socket. */
  daemon: string | null
}

/** The caller's envelope from the wire's: the daemon's own `rpc` event rebuilt and appended, as the daemon emitted it last. */
export function completeEnvelope(wire: WireProfiling, side: CallSide): ProfilingEnvelope {
  const { call, serverBreakdown } = wire
  wire.events.push({
    op: side.method,
    kind: 'rpc',
    profileId: call.profileId,
    traceId: side.traceId ?? call.profileId,
    // The key the connection reached, where there is one: a daemon cannot name another peer as itself.
    peer: side.daemon ?? call.peer ?? 'unknown',
    hop: side.hop,
    ts: call.ts,
    ms: serverBreakdown.totalServerMs,
    gauges: {},
    tags: {}
  })
  const envelope: ProfilingEnvelope = { serverBreakdown, events: wire.events }
  if (wire.delegationBreakdown) envelope.delegationBreakdown = wire.delegationBreakdown
  return envelope
}

export function responseFrame<T>(body: Encoding<T>): Encoding<ResponseFrame<T>> {
  return {
    preencode(state, m) {
      c.uint.preencode(state, (m.ok ? 0 : 1) | (m.profiling ? 2 : 0))
      if (m.ok) body.preencode(state, m.value)
      else wireError.preencode(state, m.error)
      if (m.profiling) profilingEnvelope.preencode(state, m.profiling)
    },
    encode(state, m) {
      c.uint.encode(state, (m.ok ? 0 : 1) | (m.profiling ? 2 : 0))
      if (m.ok) body.encode(state, m.value)
      else wireError.encode(state, m.error)
      if (m.profiling) profilingEnvelope.encode(state, m.profiling)
    },
    decode(state) {
      const flags = c.uint.decode(state)
      const frame: ResponseFrame<T> = flags & 1 ? { ok: false, error: wireError.decode(state) } : { ok: true, value: body.decode(state) }
      if (flags & 2) frame.profiling = profilingEnvelope.decode(state)
      if (state.start !== state.end) throw new RangeError('trailing bytes after message')
      return frame
    }
  }
}

/** The daemon's side of a response frame from an already encoded body or an error (a profiled success goes through encodeProfiledResponse). */
export function encodeResponse(body: Buffer | WireError, profiling?: WireProfiling): Buffer {
  const ok = Buffer.isBuffer(body)
  const state = c.state()
  c.uint.preencode(state, (ok ? 0 : 1) | (profiling ? 2 : 0))
  if (ok) state.end += body.byteLength
  else wireError.preencode(state, body)
  if (profiling) profilingEnvelope.preencode(state, profiling)
  state.buffer = Buffer.allocUnsafe(state.end)
  c.uint.encode(state, (ok ? 0 : 1) | (profiling ? 2 : 0))
  if (ok) {
    ;(state.buffer as Buffer).set(body, state.start)
    state.start += body.byteLength
  } else {
    wireError.encode(state, body)
  }
  if (profiling) profilingEnvelope.encode(state, profiling)
  return state.buffer as Buffer
}

/**
 * A profiled call's envelope to come, as encodeProfiledResponse takes it: its parts, with no
 * envelope object made, and its profile id as a number whose text is written straight into the
 * response (a call whose handler emits no event never makes the string).
 */
export interface EnvelopeSource {
  /** Events of the call's work (see WireProfiling). */
  readonly events: OperationEvent[]
  readonly delegationBreakdown: DelegationBreakdown | undefined
  /** The call's profile id, a number of shared/profiler/ids.ts (idText() is the id). */
  readonly profileNumber: number
  /** The daemon's key where the caller cannot know it (see WireProfiling), else undefined. */
  readonly sentPeer: string | undefined
  /** Ends the call's timing once its response is encoded, at `done` (performance.now()): its breakdown. */
  finish(done: number): ServerBreakdown
  /** The call's start (epoch ms), once finished. */
  readonly startedAt: number
}

/**
 * The daemon's profiled success response in one buffer: the flags, the body encoded in place (its
 * encoding timed as encodeMs), then the envelope, in room for the most it can take (measuring every
 * string first cost as much as writing it). One allocation, no copy of the body.
 */
export function encodeProfiledResponse<T>(body: Encoding<T>, value: T, profile: EnvelopeSource): Buffer {
  const state = c.state()
  body.preencode(state, value)
  const bound = 1 + state.end + envelopeBound(profile.events, profile.sentPeer)
  const buffer = Buffer.allocUnsafe(bound)
  state.buffer = buffer
  state.start = 1
  state.end = bound
  buffer[0] = 2 // flags: a value, then the envelope (the flags uint is one byte below 253)
  body.encode(state, value)
  const breakdown = profile.finish(performance.now())
  encodeEnvelope(state, breakdown, profile.events, profile.profileNumber, profile.startedAt, profile.sentPeer, profile.delegationBreakdown)
  return buffer.subarray(0, state.start)
}

// ---------------------------------------------------------------------------------------------
// Profiling: operation events and breakdowns (names as DESIGN.md's Profiling section).

const OPERATION_KINDS: OperationKind[] = ['rpc', 'handler', 'download', 'load', 'inference', 'delegation']

/**
 * compact-encoding's float64, the same bytes (little-endian IEEE 754), written with Buffer's own
 * methods: c.float64 keeps a DataView per buffer in a WeakMap, so every fresh response buffer cost
 * a DataView and an ephemeron entry (about 2 µs per profiling envelope, most of its encoding).
 * Every float of every message here uses it.
 */
const float64: Encoding<number> = {
  preencode(state) {
    state.end += 8
  },
  encode(state, n) {
    if (!Buffer.isBuffer(state.buffer)) return c.float64.encode(state, n)
    state.buffer.writeDoubleLE(n, state.start)
    state.start += 8
  },
  decode(state) {
    if (!Buffer.isBuffer(state.buffer)) return c.float64.decode(state)
    if (state.end - state.start < 8) throw new Error('Out of bounds')
    const n = state.buffer.readDoubleLE(state.start)
    state.start += 8
    return n
  }
}

/**
 * A record of named values on the wire as an array of (name, value) pairs: a uint count, then
 * each pair. Encoded straight from the object and decoded straight into one (no pair arrays); a
 * `__proto__` name is an own property, as Object.fromEntries would make it.
 */
function namedValues<T>(value: Encoding<T>): Encoding<Record<string, T>> {
  return {
    preencode(state, m) {
      let n = 0
      for (const name in m) {
        c.string.preencode(state, name)
        value.preencode(state, m[name])
        n++
      }
      c.uint.preencode(state, n)
    },
    encode(state, m) {
      let n = 0
      for (const _ in m) n++
      c.uint.encode(state, n)
      for (const name in m) {
        c.string.encode(state, name)
        value.encode(state, m[name])
      }
    },
    decode(state) {
      const n = c.uint.decode(state)
      if (n > 0x100000) throw new Error('Array is too big') // c.array's bound, as before
      const out: Record<string, T> = {}
      // Each pair takes at least two bytes, so a forged count runs out of buffer, not of memory.
      for (let i = 0; i < n; i++) {
        const name = c.string.decode(state)
        const v = value.decode(state)
        if (name === '__proto__') Object.defineProperty(out, name, { value: v, enumerable: true, writable: true, configurable: true })
        else out[name] = v
      }
      return out
    }
  }
}

const numberValues = namedValues(float64)
const stringValues = namedValues(c.string)

/** At most this many bytes: a uint's longest form plus three UTF-8 bytes per UTF-16 unit. */
function stringBound(s: string): number {
  return 9 + 3 * s.length
}

function namedValuesBound(m: Record<string, number | string>): number {
  let n = 9
  for (const name in m) {
    const v = m[name]
    n += stringBound(name) + (typeof v === 'string' ? stringBound(v) : 8)
  }
  return n
}

/** An upper bound of the envelope's encoded size, from string lengths only (no pass over the bytes). */
function envelopeBound(events: OperationEvent[], peer: string | undefined): number {
  let n = 1 + 5 * 9 + 9 + 25 + 1 + ID_TEXT_LENGTH + 8 + (peer === undefined ? 0 : stringBound(peer))
  for (const e of events) {
    n += 1 + stringBound(e.op) + 9 + stringBound(e.profileId) + stringBound(e.traceId) + stringBound(e.peer) + 9 + 16 + 9
    n += namedValuesBound(e.gauges) + namedValuesBound(e.tags)
  }
  return n
}

const operationEvent: Encoding<OperationEvent> = {
  preencode(state, m) {
    c.uint.preencode(state, m.bytes !== undefined ? 1 : 0)
    c.string.preencode(state, m.op)
    c.uint.preencode(state, OPERATION_KINDS.indexOf(m.kind))
    c.string.preencode(state, m.profileId)
    c.string.preencode(state, m.traceId)
    c.string.preencode(state, m.peer)
    c.uint.preencode(state, m.hop)
    float64.preencode(state, m.ts)
    float64.preencode(state, m.ms)
    if (m.bytes !== undefined) c.uint.preencode(state, m.bytes)
    numberValues.preencode(state, m.gauges)
    stringValues.preencode(state, m.tags)
  },
  encode(state, m) {
    c.uint.encode(state, m.bytes !== undefined ? 1 : 0)
    c.string.encode(state, m.op)
    c.uint.encode(state, OPERATION_KINDS.indexOf(m.kind))
    c.string.encode(state, m.profileId)
    c.string.encode(state, m.traceId)
    c.string.encode(state, m.peer)
    c.uint.encode(state, m.hop)
    float64.encode(state, m.ts)
    float64.encode(state, m.ms)
    if (m.bytes !== undefined) c.uint.encode(state, m.bytes)
    numberValues.encode(state, m.gauges)
    stringValues.encode(state, m.tags)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const op = c.string.decode(state)
    const kind = OPERATION_KINDS[c.uint.decode(state)] ?? 'rpc'
    const profileId = c.string.decode(state)
    const traceId = c.string.decode(state)
    const peer = c.string.decode(state)
    const hop = c.uint.decode(state)
    const ts = float64.decode(state)
    const ms = float64.decode(state)
    const bytes = flags & 1 ? c.uint.decode(state) : undefined
    const gauges = numberValues.decode(state)
    const tags = stringValues.decode(state)
    const event: OperationEvent = { op, kind, profileId, traceId, peer, hop, ts, ms, gauges, tags }
    if (bytes !== undefined) event.bytes = bytes
    return event
  }
}

/**
 * A duration in ms as whole nanoseconds, a uint: 2–5 bytes where a float64 took 8 (the breakdown
 * of a ping: about 15 bytes instead of 40). Negative and NaN go as 0 (no duration is either).
 */
const nanoseconds: Encoding<number> = {
  preencode(state, ms) {
    c.uint.preencode(state, ms > 0 ? Math.round(ms * 1e6) : 0)
  },
  encode(state, ms) {
    c.uint.encode(state, ms > 0 ? Math.round(ms * 1e6) : 0)
  },
  decode(state) {
    return c.uint.decode(state) / 1e6
  }
}

const serverBreakdown: Encoding<ServerBreakdown> = {
  preencode(state, m) {
    nanoseconds.preencode(state, m.decodeMs)
    nanoseconds.preencode(state, m.queueMs)
    nanoseconds.preencode(state, m.handlerMs)
    nanoseconds.preencode(state, m.encodeMs)
    nanoseconds.preencode(state, m.totalServerMs)
  },
  encode(state, m) {
    nanoseconds.encode(state, m.decodeMs)
    nanoseconds.encode(state, m.queueMs)
    nanoseconds.encode(state, m.handlerMs)
    nanoseconds.encode(state, m.encodeMs)
    nanoseconds.encode(state, m.totalServerMs)
  },
  decode(state) {
    return {
      decodeMs: nanoseconds.decode(state),
      queueMs: nanoseconds.decode(state),
      handlerMs: nanoseconds.decode(state),
      encodeMs: nanoseconds.decode(state),
      totalServerMs: nanoseconds.decode(state)
    }
  }
}

const delegationBreakdown: Encoding<DelegationBreakdown> = {
  preencode(state) {
    for (let i = 0; i < 3; i++) float64.preencode(state, 0)
  },
  encode(state, m) {
    float64.encode(state, m.connectionMs)
    float64.encode(state, m.serverWaitMs)
    float64.encode(state, m.totalDelegationMs)
  },
  decode(state) {
    return {
      connectionMs: float64.decode(state),
      serverWaitMs: float64.decode(state),
      totalDelegationMs: float64.decode(state)
    }
  }
}

const operationEvents = c.array(operationEvent)

// flags: bit 0 delegationBreakdown, bit 1 the call's peer (sent only where the caller cannot know it).
const profilingEnvelope: Encoding<WireProfiling> = {
  preencode(state, m) {
    c.uint.preencode(state, (m.delegationBreakdown ? 1 : 0) | (m.call.peer !== undefined ? 2 : 0))
    serverBreakdown.preencode(state, m.serverBreakdown)
    operationEvents.preencode(state, m.events)
    c.string.preencode(state, m.call.profileId)
    float64.preencode(state, m.call.ts)
    if (m.call.peer !== undefined) c.string.preencode(state, m.call.peer)
    if (m.delegationBreakdown) delegationBreakdown.preencode(state, m.delegationBreakdown)
  },
  encode(state, m) {
    encodeEnvelope(state, m.serverBreakdown, m.events, m.call.profileId, m.call.ts, m.call.peer, m.delegationBreakdown)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const envelope: WireProfiling = {
      serverBreakdown: serverBreakdown.decode(state),
      events: operationEvents.decode(state),
      call: { profileId: c.string.decode(state), ts: float64.decode(state) }
    }
    if (flags & 2) envelope.call.peer = c.string.decode(state)
    if (flags & 1) envelope.delegationBreakdown = delegationBreakdown.decode(state)
    return envelope
  }
}

/**
 * The envelope's bytes, from a WireProfiling or straight from a call's parts (encodeProfiledResponse).
 * A profile id given as a number (shared/profiler/ids.ts) is written as its text, the same bytes.
 */
function encodeEnvelope(
  state: State,
  breakdown: ServerBreakdown,
  events: OperationEvent[],
  profileId: string | number,
  ts: number,
  peer: string | undefined,
  delegation: DelegationBreakdown | undefined
): void {
  // A profiled ping's envelope: the flags, the breakdown, an empty event list and the profile id
  // written from its number, with no string made (this runs once per call, its code cold).
  const buffer = state.buffer as Uint8Array
  buffer[state.start++] = (delegation ? 1 : 0) | (peer !== undefined ? 2 : 0)
  serverBreakdown.encode(state, breakdown)
  if (events.length === 0) buffer[state.start++] = 0
  else operationEvents.encode(state, events)
  if (typeof profileId === 'number') {
    buffer[state.start++] = ID_TEXT_LENGTH // its length, a one-byte uint
    state.start = writeIdText(buffer, state.start, profileId)
  } else {
    c.string.encode(state, profileId)
  }
  float64.encode(state, ts)
  if (peer !== undefined) c.string.encode(state, peer)
  if (delegation) delegationBreakdown.encode(state, delegation)
}

// ---------------------------------------------------------------------------------------------
// Errors: numeric code, symbolic name, message, typed details; the remote stack only in debug.

const detailValue: Encoding<ErrorDetailValue> = {
  preencode(state, v) {
    c.uint8.preencode(state, 0)
    if (typeof v === 'string') c.string.preencode(state, v)
    else if (typeof v === 'number') float64.preencode(state, v)
    else if (typeof v === 'boolean') c.bool.preencode(state, v)
  },
  encode(state, v) {
    if (typeof v === 'string') {
      c.uint8.encode(state, 1)
      c.string.encode(state, v)
    } else if (typeof v === 'number') {
      c.uint8.encode(state, 2)
      float64.encode(state, v)
    } else if (typeof v === 'boolean') {
      c.uint8.encode(state, 3)
      c.bool.encode(state, v)
    } else {
      c.uint8.encode(state, 0)
    }
  },
  decode(state) {
    switch (c.uint8.decode(state)) {
      case 1:
        return c.string.decode(state)
      case 2:
        return float64.decode(state)
      case 3:
        return c.bool.decode(state)
      default:
        return null
    }
  }
}

const detailEntry = pair(c.string, detailValue)

const errorDetails: Encoding<ErrorDetails> = {
  preencode(state, m) {
    c.array(detailEntry).preencode(state, Object.entries(m))
  },
  encode(state, m) {
    c.array(detailEntry).encode(state, Object.entries(m))
  },
  decode(state) {
    return Object.fromEntries(c.array(detailEntry).decode(state))
  }
}

export const wireError: Encoding<WireError> = {
  preencode(state, m) {
    c.uint.preencode(state, (m.details ? 1 : 0) | (m.remoteStack ? 2 : 0))
    c.uint.preencode(state, m.code)
    c.string.preencode(state, m.name)
    c.string.preencode(state, m.message)
    if (m.details) errorDetails.preencode(state, m.details)
    if (m.remoteStack) c.string.preencode(state, m.remoteStack)
  },
  encode(state, m) {
    c.uint.encode(state, (m.details ? 1 : 0) | (m.remoteStack ? 2 : 0))
    c.uint.encode(state, m.code)
    c.string.encode(state, m.name)
    c.string.encode(state, m.message)
    if (m.details) errorDetails.encode(state, m.details)
    if (m.remoteStack) c.string.encode(state, m.remoteStack)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const err: WireError = {
      code: c.uint.decode(state),
      name: c.string.decode(state),
      message: c.string.decode(state)
    }
    if (flags & 1) err.details = errorDetails.decode(state)
    if (flags & 2) err.remoteStack = c.string.decode(state)
    return err
  }
}

// ---------------------------------------------------------------------------------------------
// ping: no request body.

export interface PingResponse {
  time: number // daemon wall clock, ms since the epoch
  version: string
  protocolVersion: number
}

export const pingRequest = c.none

export const pingResponse: Encoding<PingResponse> = {
  preencode(state, m) {
    c.uint.preencode(state, m.time)
    c.string.preencode(state, m.version)
    c.uint.preencode(state, m.protocolVersion)
  },
  encode(state, m) {
    c.uint.encode(state, m.time)
    c.string.encode(state, m.version)
    c.uint.encode(state, m.protocolVersion)
  },
  decode(state) {
    return {
      time: c.uint.decode(state),
      version: c.string.decode(state),
      protocolVersion: c.uint.decode(state)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// status: no request body. Peers are swarm connections (the control socket is not a peer).

export interface PeerStatus {
  publicKey: Buffer
  connectedAt: number // ms since the epoch
  calls: number
  inFlight: number
}

export interface ModelStatus {
  modelId: string
  source: string
  sizeBytes: number
  loadedAt: number // ms since the epoch
  references: number
  sequences: number
  activeStreams: number
  queuedStreams: number
  totalLoadTime: number // ms
}

export interface StreamStatus {
  streamId: number
  modelId: string
  peer: Buffer | null // null: the local control socket
  state: 'queued' | 'generating' | 'waiting-for-credit'
  generatedTokens: number
  framesSent: number
  credits: number
  bufferedTokens: number
}

export interface MethodStatus {
  method: string
  calls: number
  errors: number
}

export interface DaemonStatus {
  publicKey: Buffer
  topic: Buffer
  topicName: string
  version: string
  protocolVersion: number
  startedAt: number // ms since the epoch
  uptimeMs: number
  peers: PeerStatus[]
  models: ModelStatus[]
  streams: StreamStatus[]
  inFlight: number
  methods: MethodStatus[]
  /** The daemon's operator metrics since start: latency per method, TTFT, tokens/s, load times. */
  metrics: Record<string, MetricSummary>
  /** What each remote peer may use (start flags --peer-*). */
  peerLimits: PeerLimitSettings
  /** What each remote peer uses now, for the peers with anything counted. */
  peerUsage: PeerUsage[]
  /** Which llama.cpp build serves: `local build, OpenMP` or `prebuilt, no OpenMP (why)`; '' from older daemons. */
  backend: string
  /** The daemon's current load announcement (absent from daemons that do not announce). */
  load?: LoadReport
}

export interface PeerLimitSettings {
  maxStreams: number
  maxQueued: number
  loadsPerMinute: number
  downloadBytesPerHour: number
}

export interface PeerUsage {
  publicKey: Buffer
  activeStreams: number
  queuedStreams: number
  loadsLastMinute: number
  bytesDownloadedLastHour: number
  /** Calls refused with QUEUE_FULL or RATE_LIMITED by the per-peer limits. */
  refusals: number
}

const peerStatus: Encoding<PeerStatus> = {
  preencode(state, m) {
    c.fixed32.preencode(state, m.publicKey)
    c.uint.preencode(state, m.connectedAt)
    c.uint.preencode(state, m.calls)
    c.uint.preencode(state, m.inFlight)
  },
  encode(state, m) {
    c.fixed32.encode(state, m.publicKey)
    c.uint.encode(state, m.connectedAt)
    c.uint.encode(state, m.calls)
    c.uint.encode(state, m.inFlight)
  },
  decode(state) {
    return {
      publicKey: fixed32.decode(state),
      connectedAt: c.uint.decode(state),
      calls: c.uint.decode(state),
      inFlight: c.uint.decode(state)
    }
  }
}

const modelStatus: Encoding<ModelStatus> = {
  preencode(state, m) {
    c.string.preencode(state, m.modelId)
    c.string.preencode(state, m.source)
    c.uint.preencode(state, m.sizeBytes)
    c.uint.preencode(state, m.loadedAt)
    c.uint.preencode(state, m.references)
    c.uint.preencode(state, m.sequences)
    c.uint.preencode(state, m.activeStreams)
    c.uint.preencode(state, m.queuedStreams)
    float64.preencode(state, m.totalLoadTime)
  },
  encode(state, m) {
    c.string.encode(state, m.modelId)
    c.string.encode(state, m.source)
    c.uint.encode(state, m.sizeBytes)
    c.uint.encode(state, m.loadedAt)
    c.uint.encode(state, m.references)
    c.uint.encode(state, m.sequences)
    c.uint.encode(state, m.activeStreams)
    c.uint.encode(state, m.queuedStreams)
    float64.encode(state, m.totalLoadTime)
  },
  decode(state) {
    return {
      modelId: c.string.decode(state),
      source: c.string.decode(state),
      sizeBytes: c.uint.decode(state),
      loadedAt: c.uint.decode(state),
      references: c.uint.decode(state),
      sequences: c.uint.decode(state),
      activeStreams: c.uint.decode(state),
      queuedStreams: c.uint.decode(state),
      totalLoadTime: float64.decode(state)
    }
  }
}

const STREAM_STATES = ['queued', 'generating', 'waiting-for-credit'] as const

const streamStatus: Encoding<StreamStatus> = {
  preencode(state, m) {
    c.uint.preencode(state, m.peer ? 1 : 0)
    c.uint.preencode(state, m.streamId)
    c.string.preencode(state, m.modelId)
    if (m.peer) c.fixed32.preencode(state, m.peer)
    c.uint.preencode(state, STREAM_STATES.indexOf(m.state))
    c.uint.preencode(state, m.generatedTokens)
    c.uint.preencode(state, m.framesSent)
    c.uint.preencode(state, m.credits)
    c.uint.preencode(state, m.bufferedTokens)
  },
  encode(state, m) {
    c.uint.encode(state, m.peer ? 1 : 0)
    c.uint.encode(state, m.streamId)
    c.string.encode(state, m.modelId)
    if (m.peer) c.fixed32.encode(state, m.peer)
    c.uint.encode(state, STREAM_STATES.indexOf(m.state))
    c.uint.encode(state, m.generatedTokens)
    c.uint.encode(state, m.framesSent)
    c.uint.encode(state, m.credits)
    c.uint.encode(state, m.bufferedTokens)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    return {
      streamId: c.uint.decode(state),
      modelId: c.string.decode(state),
      peer: flags & 1 ? fixed32.decode(state) : null,
      state: STREAM_STATES[c.uint.decode(state)] ?? 'queued',
      generatedTokens: c.uint.decode(state),
      framesSent: c.uint.decode(state),
      credits: c.uint.decode(state),
      bufferedTokens: c.uint.decode(state)
    }
  }
}

const methodStatus: Encoding<MethodStatus> = {
  preencode(state, m) {
    c.string.preencode(state, m.method)
    c.uint.preencode(state, m.calls)
    c.uint.preencode(state, m.errors)
  },
  encode(state, m) {
    c.string.encode(state, m.method)
    c.uint.encode(state, m.calls)
    c.uint.encode(state, m.errors)
  },
  decode(state) {
    return { method: c.string.decode(state), calls: c.uint.decode(state), errors: c.uint.decode(state) }
  }
}

const METRIC_TYPES: MetricType[] = ['duration', 'bytes', 'throughput', 'rate', 'count']

const metricSummary: Encoding<MetricSummary> = {
  preencode(state, m) {
    c.uint.preencode(state, METRIC_TYPES.indexOf(m.type))
    for (let i = 0; i < 10; i++) float64.preencode(state, 0)
  },
  encode(state, m) {
    c.uint.encode(state, METRIC_TYPES.indexOf(m.type))
    for (const v of [m.count, m.min, m.max, m.avg, m.sum, m.last, m.p50, m.p90, m.p95, m.p99]) float64.encode(state, v)
  },
  decode(state) {
    const type = METRIC_TYPES[c.uint.decode(state)] ?? 'count'
    const [count, min, max, avg, sum, last, p50, p90, p95, p99] = Array.from({ length: 10 }, () => float64.decode(state))
    return { type, count, min, max, avg, sum, last, p50, p90, p95, p99 }
  }
}

const metricEntry = pair(c.string, metricSummary)

const metricTable: Encoding<Record<string, MetricSummary>> = {
  preencode(state, m) {
    c.array(metricEntry).preencode(state, Object.entries(m))
  },
  encode(state, m) {
    c.array(metricEntry).encode(state, Object.entries(m))
  },
  decode(state) {
    return Object.fromEntries(c.array(metricEntry).decode(state))
  }
}

const peerLimits: Encoding<PeerLimitSettings> = {
  preencode(state, m) {
    for (const v of [m.maxStreams, m.maxQueued, m.loadsPerMinute, m.downloadBytesPerHour]) c.uint.preencode(state, v)
  },
  encode(state, m) {
    for (const v of [m.maxStreams, m.maxQueued, m.loadsPerMinute, m.downloadBytesPerHour]) c.uint.encode(state, v)
  },
  decode(state) {
    return {
      maxStreams: c.uint.decode(state),
      maxQueued: c.uint.decode(state),
      loadsPerMinute: c.uint.decode(state),
      downloadBytesPerHour: c.uint.decode(state)
    }
  }
}

const peerUsage: Encoding<PeerUsage> = {
  preencode(state, m) {
    c.fixed32.preencode(state, m.publicKey)
    for (const v of [m.activeStreams, m.queuedStreams, m.loadsLastMinute, m.bytesDownloadedLastHour, m.refusals]) c.uint.preencode(state, v)
  },
  encode(state, m) {
    c.fixed32.encode(state, m.publicKey)
    for (const v of [m.activeStreams, m.queuedStreams, m.loadsLastMinute, m.bytesDownloadedLastHour, m.refusals]) c.uint.encode(state, v)
  },
  decode(state) {
    return {
      publicKey: fixed32.decode(state),
      activeStreams: c.uint.decode(state),
      queuedStreams: c.uint.decode(state),
      loadsLastMinute: c.uint.decode(state),
      bytesDownloadedLastHour: c.uint.decode(state),
      refusals: c.uint.decode(state)
    }
  }
}

export const statusRequest = c.none

export const statusResponse: Encoding<DaemonStatus> = {
  preencode(state, m) {
    c.fixed32.preencode(state, m.publicKey)
    c.fixed32.preencode(state, m.topic)
    c.string.preencode(state, m.topicName)
    c.string.preencode(state, m.version)
    c.uint.preencode(state, m.protocolVersion)
    c.uint.preencode(state, m.startedAt)
    c.uint.preencode(state, m.uptimeMs)
    c.array(peerStatus).preencode(state, m.peers)
    c.array(modelStatus).preencode(state, m.models)
    c.array(streamStatus).preencode(state, m.streams)
    c.uint.preencode(state, m.inFlight)
    c.array(methodStatus).preencode(state, m.methods)
    metricTable.preencode(state, m.metrics)
    peerLimits.preencode(state, m.peerLimits)
    c.array(peerUsage).preencode(state, m.peerUsage)
    c.string.preencode(state, m.backend)
    // A trailing flags uint (bit 0: load) keeps the response readable by older clients.
    c.uint.preencode(state, m.load ? 1 : 0)
    if (m.load) loadReport.preencode(state, m.load)
  },
  encode(state, m) {
    c.fixed32.encode(state, m.publicKey)
    c.fixed32.encode(state, m.topic)
    c.string.encode(state, m.topicName)
    c.string.encode(state, m.version)
    c.uint.encode(state, m.protocolVersion)
    c.uint.encode(state, m.startedAt)
    c.uint.encode(state, m.uptimeMs)
    c.array(peerStatus).encode(state, m.peers)
    c.array(modelStatus).encode(state, m.models)
    c.array(streamStatus).encode(state, m.streams)
    c.uint.encode(state, m.inFlight)
    c.array(methodStatus).encode(state, m.methods)
    metricTable.encode(state, m.metrics)
    peerLimits.encode(state, m.peerLimits)
    c.array(peerUsage).encode(state, m.peerUsage)
    c.string.encode(state, m.backend)
    c.uint.encode(state, m.load ? 1 : 0)
    if (m.load) loadReport.encode(state, m.load)
  },
  decode(state) {
    const status: DaemonStatus = {
      publicKey: fixed32.decode(state),
      topic: fixed32.decode(state),
      topicName: c.string.decode(state),
      version: c.string.decode(state),
      protocolVersion: c.uint.decode(state),
      startedAt: c.uint.decode(state),
      uptimeMs: c.uint.decode(state),
      peers: c.array(peerStatus).decode(state),
      models: c.array(modelStatus).decode(state),
      streams: c.array(streamStatus).decode(state),
      inFlight: c.uint.decode(state),
      methods: c.array(methodStatus).decode(state),
      metrics: metricTable.decode(state),
      peerLimits: peerLimits.decode(state),
      peerUsage: c.array(peerUsage).decode(state),
      // Appended last: a daemon from before it sends nothing here.
      backend: state.start < state.end ? c.string.decode(state) : ''
    }
    const flags = state.start < state.end ? c.uint.decode(state) : 0
    return flags & 1 ? { ...status, load: loadReport.decode(state) } : status
  }
}

// ---------------------------------------------------------------------------------------------
// downloadAsset: fetch a source into the daemon's cache ahead of a load. The client may pick a
// progress id; the daemon then sends `download.progress` events with it (about every 150 ms).

export interface DownloadAssetRequest {
  source: string
  expectedSha256?: string
  progressId?: number
  delegate?: DelegateTarget
}

/** What was fetched, without the daemon's paths. */
export interface AssetDescriptor {
  source: string
  sha256: string
  size: number
}

export interface DownloadAssetResponse {
  asset: AssetDescriptor
  stats: DownloadStats
}

export interface DownloadProgressEvent {
  progressId: number
  bytes: number
  /** 0 when the source did not say. */
  total: number
  speedBps: number
}

// flags: 1 expectedSha256, 2 progressId, 4 delegate
const downloadFlags = (m: DownloadAssetRequest) => presentFlags([m.expectedSha256, m.progressId, m.delegate])

export const downloadAssetRequest: Encoding<DownloadAssetRequest> = {
  preencode(state, m) {
    c.uint.preencode(state, downloadFlags(m))
    c.string.preencode(state, m.source)
    if (m.expectedSha256 !== undefined) c.string.preencode(state, m.expectedSha256)
    if (m.progressId !== undefined) c.uint.preencode(state, m.progressId)
    if (m.delegate) delegateTarget.preencode(state, m.delegate)
  },
  encode(state, m) {
    c.uint.encode(state, downloadFlags(m))
    c.string.encode(state, m.source)
    if (m.expectedSha256 !== undefined) c.string.encode(state, m.expectedSha256)
    if (m.progressId !== undefined) c.uint.encode(state, m.progressId)
    if (m.delegate) delegateTarget.encode(state, m.delegate)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const m: DownloadAssetRequest = { source: c.string.decode(state) }
    if (flags & 1) m.expectedSha256 = c.string.decode(state)
    if (flags & 2) m.progressId = c.uint.decode(state)
    if (flags & 4) m.delegate = delegateTarget.decode(state)
    return m
  }
}

const SOURCE_TYPES: SourceType[] = ['hyperdrive', 'registry', 'http', 'file']

const downloadStats: Encoding<DownloadStats> = {
  preencode(state, m) {
    c.uint.preencode(state, SOURCE_TYPES.indexOf(m.sourceType))
    c.bool.preencode(state, false)
    for (let i = 0; i < 6; i++) float64.preencode(state, 0)
  },
  encode(state, m) {
    c.uint.encode(state, SOURCE_TYPES.indexOf(m.sourceType))
    c.bool.encode(state, m.cacheHit)
    float64.encode(state, m.downloadTime)
    float64.encode(state, m.totalDownloadTime)
    float64.encode(state, m.totalBytesDownloaded)
    float64.encode(state, m.bytesResumed)
    float64.encode(state, m.downloadSpeedBps)
    float64.encode(state, m.checksumValidationTime)
  },
  decode(state) {
    return {
      sourceType: SOURCE_TYPES[c.uint.decode(state)] ?? 'file',
      cacheHit: c.bool.decode(state),
      downloadTime: float64.decode(state),
      totalDownloadTime: float64.decode(state),
      totalBytesDownloaded: float64.decode(state),
      bytesResumed: float64.decode(state),
      downloadSpeedBps: float64.decode(state),
      checksumValidationTime: float64.decode(state)
    }
  }
}

export const downloadAssetResponse: Encoding<DownloadAssetResponse> = {
  preencode(state, m) {
    c.string.preencode(state, m.asset.source)
    c.string.preencode(state, m.asset.sha256)
    c.uint.preencode(state, m.asset.size)
    downloadStats.preencode(state, m.stats)
  },
  encode(state, m) {
    c.string.encode(state, m.asset.source)
    c.string.encode(state, m.asset.sha256)
    c.uint.encode(state, m.asset.size)
    downloadStats.encode(state, m.stats)
  },
  decode(state) {
    return {
      asset: { source: c.string.decode(state), sha256: c.string.decode(state), size: c.uint.decode(state) },
      stats: downloadStats.decode(state)
    }
  }
}

export const downloadProgress: Encoding<DownloadProgressEvent> = {
  preencode(state, m) {
    c.uint.preencode(state, m.progressId)
    c.uint.preencode(state, m.bytes)
    c.uint.preencode(state, m.total)
    float64.preencode(state, m.speedBps)
  },
  encode(state, m) {
    c.uint.encode(state, m.progressId)
    c.uint.encode(state, m.bytes)
    c.uint.encode(state, m.total)
    float64.encode(state, m.speedBps)
  },
  decode(state) {
    return { progressId: c.uint.decode(state), bytes: c.uint.decode(state), total: c.uint.decode(state), speedBps: float64.decode(state) }
  }
}

// ---------------------------------------------------------------------------------------------
// loadModel / unloadModel. Optional config fields: flags bit i = field i present, in the order
// contextSize, threads, gpu, sequences, maxQueueDepth.

export interface ModelConfig {
  contextSize?: number
  threads?: number
  gpu?: boolean
  /** Concurrent streams (context sequences). */
  sequences?: number
  /** Streams that may wait for a sequence before QUEUE_FULL. */
  maxQueueDepth?: number
}

/** Where a call runs: this daemon (none), or a provider it forwards to. */
export interface DelegateTarget {
  /** The provider daemon's public key. */
  peer: Buffer
  /** Run here if the provider cannot be reached. */
  fallbackToLocal: boolean
}

export interface LoadModelRequest {
  source: string
  modelType: string
  config: ModelConfig
  delegate?: DelegateTarget
}

export interface ModelInfo {
  name: string
  architecture: string
  sizeBytes: number
  contextSize: number
  trainContextSize: number
  sequences: number
  threads: number
  backendDevice: string
}

/** loadModel's gauges and tags, names as DESIGN.md's Profiling section. Times in ms. */
export interface LoadStats {
  totalLoadTime: number
  modelInitializationTime: number
  downloadTime: number
  totalBytesDownloaded: number
  downloadSpeedBps: number
  checksumValidationTime: number
  sourceType: string
  cacheHit: boolean
}

export interface LoadModelResponse {
  modelId: string
  info: ModelInfo
  stats: LoadStats
}

const modelConfig: Encoding<ModelConfig> = {
  preencode(state, m) {
    c.uint.preencode(state, presentFlags([m.contextSize, m.threads, m.gpu, m.sequences, m.maxQueueDepth]))
    if (m.contextSize !== undefined) c.uint.preencode(state, m.contextSize)
    if (m.threads !== undefined) c.uint.preencode(state, m.threads)
    if (m.gpu !== undefined) c.bool.preencode(state, m.gpu)
    if (m.sequences !== undefined) c.uint.preencode(state, m.sequences)
    if (m.maxQueueDepth !== undefined) c.uint.preencode(state, m.maxQueueDepth)
  },
  encode(state, m) {
    c.uint.encode(state, presentFlags([m.contextSize, m.threads, m.gpu, m.sequences, m.maxQueueDepth]))
    if (m.contextSize !== undefined) c.uint.encode(state, m.contextSize)
    if (m.threads !== undefined) c.uint.encode(state, m.threads)
    if (m.gpu !== undefined) c.bool.encode(state, m.gpu)
    if (m.sequences !== undefined) c.uint.encode(state, m.sequences)
    if (m.maxQueueDepth !== undefined) c.uint.encode(state, m.maxQueueDepth)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const m: ModelConfig = {}
    if (flags & 1) m.contextSize = c.uint.decode(state)
    if (flags & 2) m.threads = c.uint.decode(state)
    if (flags & 4) m.gpu = c.bool.decode(state)
    if (flags & 8) m.sequences = c.uint.decode(state)
    if (flags & 16) m.maxQueueDepth = c.uint.decode(state)
    return m
  }
}

const delegateTarget: Encoding<DelegateTarget> = {
  preencode(state, m) {
    c.fixed32.preencode(state, m.peer)
    c.bool.preencode(state, m.fallbackToLocal)
  },
  encode(state, m) {
    c.fixed32.encode(state, m.peer)
    c.bool.encode(state, m.fallbackToLocal)
  },
  decode(state) {
    return { peer: fixed32.decode(state), fallbackToLocal: c.bool.decode(state) }
  }
}

// flags: bit 0 = delegate
export const loadModelRequest: Encoding<LoadModelRequest> = {
  preencode(state, m) {
    c.uint.preencode(state, m.delegate ? 1 : 0)
    c.string.preencode(state, m.source)
    c.string.preencode(state, m.modelType)
    modelConfig.preencode(state, m.config)
    if (m.delegate) delegateTarget.preencode(state, m.delegate)
  },
  encode(state, m) {
    c.uint.encode(state, m.delegate ? 1 : 0)
    c.string.encode(state, m.source)
    c.string.encode(state, m.modelType)
    modelConfig.encode(state, m.config)
    if (m.delegate) delegateTarget.encode(state, m.delegate)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const m: LoadModelRequest = { source: c.string.decode(state), modelType: c.string.decode(state), config: modelConfig.decode(state) }
    if (flags & 1) m.delegate = delegateTarget.decode(state)
    return m
  }
}

const modelInfo: Encoding<ModelInfo> = {
  preencode(state, m) {
    c.string.preencode(state, m.name)
    c.string.preencode(state, m.architecture)
    c.uint.preencode(state, m.sizeBytes)
    c.uint.preencode(state, m.contextSize)
    c.uint.preencode(state, m.trainContextSize)
    c.uint.preencode(state, m.sequences)
    c.uint.preencode(state, m.threads)
    c.string.preencode(state, m.backendDevice)
  },
  encode(state, m) {
    c.string.encode(state, m.name)
    c.string.encode(state, m.architecture)
    c.uint.encode(state, m.sizeBytes)
    c.uint.encode(state, m.contextSize)
    c.uint.encode(state, m.trainContextSize)
    c.uint.encode(state, m.sequences)
    c.uint.encode(state, m.threads)
    c.string.encode(state, m.backendDevice)
  },
  decode(state) {
    return {
      name: c.string.decode(state),
      architecture: c.string.decode(state),
      sizeBytes: c.uint.decode(state),
      contextSize: c.uint.decode(state),
      trainContextSize: c.uint.decode(state),
      sequences: c.uint.decode(state),
      threads: c.uint.decode(state),
      backendDevice: c.string.decode(state)
    }
  }
}

const loadStats: Encoding<LoadStats> = {
  preencode(state, m) {
    for (let i = 0; i < 6; i++) float64.preencode(state, 0)
    c.string.preencode(state, m.sourceType)
    c.bool.preencode(state, m.cacheHit)
  },
  encode(state, m) {
    float64.encode(state, m.totalLoadTime)
    float64.encode(state, m.modelInitializationTime)
    float64.encode(state, m.downloadTime)
    float64.encode(state, m.totalBytesDownloaded)
    float64.encode(state, m.downloadSpeedBps)
    float64.encode(state, m.checksumValidationTime)
    c.string.encode(state, m.sourceType)
    c.bool.encode(state, m.cacheHit)
  },
  decode(state) {
    return {
      totalLoadTime: float64.decode(state),
      modelInitializationTime: float64.decode(state),
      downloadTime: float64.decode(state),
      totalBytesDownloaded: float64.decode(state),
      downloadSpeedBps: float64.decode(state),
      checksumValidationTime: float64.decode(state),
      sourceType: c.string.decode(state),
      cacheHit: c.bool.decode(state)
    }
  }
}

export const loadModelResponse: Encoding<LoadModelResponse> = {
  preencode(state, m) {
    c.string.preencode(state, m.modelId)
    modelInfo.preencode(state, m.info)
    loadStats.preencode(state, m.stats)
  },
  encode(state, m) {
    c.string.encode(state, m.modelId)
    modelInfo.encode(state, m.info)
    loadStats.encode(state, m.stats)
  },
  decode(state) {
    return { modelId: c.string.decode(state), info: modelInfo.decode(state), stats: loadStats.decode(state) }
  }
}

export const unloadModelRequest: Encoding<{ modelId: string }> = {
  preencode(state, m) {
    c.string.preencode(state, m.modelId)
  },
  encode(state, m) {
    c.string.encode(state, m.modelId)
  },
  decode(state) {
    return { modelId: c.string.decode(state) }
  }
}

/** References left after this unload; 0 means the model was freed. */
export const unloadModelResponse: Encoding<{ references: number }> = {
  preencode(state, m) {
    c.uint.preencode(state, m.references)
  },
  encode(state, m) {
    c.uint.encode(state, m.references)
  },
  decode(state) {
    return { references: c.uint.decode(state) }
  }
}

// ---------------------------------------------------------------------------------------------
// infer: a stream on top of protomux-rpc. The client picks a stream id (unique on its connection)
// and a window, registers the stream, then sends the `infer` request. The daemon answers with
// `infer.chunk` events (ordered by seq, at most `window` unacknowledged frames plus the credits
// the client grants with `infer.credit` events), and the `infer` response is the trailer: exactly
// one per stream, after the last chunk on the same channel, success or error. `cancel` stops a
// stream; the trailer then says `cancelled`.

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

export interface InferRequest {
  streamId: number
  /** Frames the daemon may send before the client grants more credit. */
  window: number
  modelId: string
  /** Raw completion of this text; or `messages` for chat (exactly one of the two). */
  prompt?: string
  messages?: ChatMessage[]
  maxTokens: number
  temperature?: number
  topP?: number
  topK?: number
  seed?: number
  stop: string[]
  delegate?: DelegateTarget
  /** Output constrained to this JSON schema (JSON text), or to a GBNF grammar (not both). */
  jsonSchema?: string
  grammar?: string
}

export type StopReason = 'eos' | 'length' | 'stop' | 'cancelled' | 'error'
const STOP_REASONS: StopReason[] = ['eos', 'length', 'stop', 'cancelled', 'error']

export interface InferStats {
  timeToFirstToken: number // ms from dequeue to the first token
  tokensPerSecond: number // decode rate after the first token
  promptTokens: number
  generatedTokens: number
  promptEvalTime: number // ms
  totalTime: number // ms from the request to the trailer, queue included
  queueMs: number
}

export interface StreamTrailer {
  stopReason: StopReason
  /** Chunk frames sent: the client checks it received exactly these. */
  frames: number
  stats: InferStats
  error?: WireError
}

export interface StreamChunk {
  streamId: number
  seq: number
  text: string
  tokens: number[]
}

export interface StreamCredit {
  streamId: number
  credits: number
}

const ROLES: ChatMessage['role'][] = ['system', 'user', 'assistant']

const chatMessage: Encoding<ChatMessage> = {
  preencode(state, m) {
    c.uint.preencode(state, ROLES.indexOf(m.role))
    c.string.preencode(state, m.content)
  },
  encode(state, m) {
    c.uint.encode(state, ROLES.indexOf(m.role))
    c.string.encode(state, m.content)
  },
  decode(state) {
    const role = ROLES[c.uint.decode(state)]
    if (!role) throw new RangeError('unknown chat role')
    return { role, content: c.string.decode(state) }
  }
}

// flags: 1 prompt, 2 messages, 4 temperature, 8 topP, 16 topK, 32 seed, 64 delegate, 128 jsonSchema, 256 grammar
const inferFlags = (m: InferRequest) =>
  presentFlags([m.prompt, m.messages, m.temperature, m.topP, m.topK, m.seed, m.delegate, m.jsonSchema, m.grammar])

export const inferRequest: Encoding<InferRequest> = {
  preencode(state, m) {
    c.uint.preencode(state, inferFlags(m))
    c.uint.preencode(state, m.streamId)
    c.uint.preencode(state, m.window)
    c.string.preencode(state, m.modelId)
    if (m.prompt !== undefined) c.string.preencode(state, m.prompt)
    if (m.messages !== undefined) c.array(chatMessage).preencode(state, m.messages)
    c.uint.preencode(state, m.maxTokens)
    if (m.temperature !== undefined) float64.preencode(state, m.temperature)
    if (m.topP !== undefined) float64.preencode(state, m.topP)
    if (m.topK !== undefined) c.uint.preencode(state, m.topK)
    if (m.seed !== undefined) c.uint.preencode(state, m.seed)
    c.array(c.string).preencode(state, m.stop)
    if (m.delegate) delegateTarget.preencode(state, m.delegate)
    if (m.jsonSchema !== undefined) c.string.preencode(state, m.jsonSchema)
    if (m.grammar !== undefined) c.string.preencode(state, m.grammar)
  },
  encode(state, m) {
    c.uint.encode(state, inferFlags(m))
    c.uint.encode(state, m.streamId)
    c.uint.encode(state, m.window)
    c.string.encode(state, m.modelId)
    if (m.prompt !== undefined) c.string.encode(state, m.prompt)
    if (m.messages !== undefined) c.array(chatMessage).encode(state, m.messages)
    c.uint.encode(state, m.maxTokens)
    if (m.temperature !== undefined) float64.encode(state, m.temperature)
    if (m.topP !== undefined) float64.encode(state, m.topP)
    if (m.topK !== undefined) c.uint.encode(state, m.topK)
    if (m.seed !== undefined) c.uint.encode(state, m.seed)
    c.array(c.string).encode(state, m.stop)
    if (m.delegate) delegateTarget.encode(state, m.delegate)
    if (m.jsonSchema !== undefined) c.string.encode(state, m.jsonSchema)
    if (m.grammar !== undefined) c.string.encode(state, m.grammar)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const m: InferRequest = {
      streamId: c.uint.decode(state),
      window: c.uint.decode(state),
      modelId: c.string.decode(state),
      maxTokens: 0,
      stop: []
    }
    if (flags & 1) m.prompt = c.string.decode(state)
    if (flags & 2) m.messages = c.array(chatMessage).decode(state)
    m.maxTokens = c.uint.decode(state)
    if (flags & 4) m.temperature = float64.decode(state)
    if (flags & 8) m.topP = float64.decode(state)
    if (flags & 16) m.topK = c.uint.decode(state)
    if (flags & 32) m.seed = c.uint.decode(state)
    m.stop = c.array(c.string).decode(state)
    if (flags & 64) m.delegate = delegateTarget.decode(state)
    if (flags & 128) m.jsonSchema = c.string.decode(state)
    if (flags & 256) m.grammar = c.string.decode(state)
    return m
  }
}

const inferStats: Encoding<InferStats> = {
  preencode(state) {
    for (let i = 0; i < 7; i++) float64.preencode(state, 0)
  },
  encode(state, m) {
    float64.encode(state, m.timeToFirstToken)
    float64.encode(state, m.tokensPerSecond)
    float64.encode(state, m.promptTokens)
    float64.encode(state, m.generatedTokens)
    float64.encode(state, m.promptEvalTime)
    float64.encode(state, m.totalTime)
    float64.encode(state, m.queueMs)
  },
  decode(state) {
    return {
      timeToFirstToken: float64.decode(state),
      tokensPerSecond: float64.decode(state),
      promptTokens: float64.decode(state),
      generatedTokens: float64.decode(state),
      promptEvalTime: float64.decode(state),
      totalTime: float64.decode(state),
      queueMs: float64.decode(state)
    }
  }
}

export const streamTrailer: Encoding<StreamTrailer> = {
  preencode(state, m) {
    c.uint.preencode(state, m.error ? 1 : 0)
    c.uint.preencode(state, STOP_REASONS.indexOf(m.stopReason))
    c.uint.preencode(state, m.frames)
    inferStats.preencode(state, m.stats)
    if (m.error) wireError.preencode(state, m.error)
  },
  encode(state, m) {
    c.uint.encode(state, m.error ? 1 : 0)
    c.uint.encode(state, STOP_REASONS.indexOf(m.stopReason))
    c.uint.encode(state, m.frames)
    inferStats.encode(state, m.stats)
    if (m.error) wireError.encode(state, m.error)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const trailer: StreamTrailer = {
      stopReason: STOP_REASONS[c.uint.decode(state)] ?? 'error',
      frames: c.uint.decode(state),
      stats: inferStats.decode(state)
    }
    if (flags & 1) trailer.error = wireError.decode(state)
    return trailer
  }
}

// Built once: a chunk goes out for every token or few (c.array() makes a new codec per call).
const tokenIds = c.array(c.uint)

export const streamChunk: Encoding<StreamChunk> = {
  preencode(state, m) {
    c.uint.preencode(state, m.streamId)
    c.uint.preencode(state, m.seq)
    c.string.preencode(state, m.text)
    tokenIds.preencode(state, m.tokens)
  },
  encode(state, m) {
    c.uint.encode(state, m.streamId)
    c.uint.encode(state, m.seq)
    c.string.encode(state, m.text)
    tokenIds.encode(state, m.tokens)
  },
  decode(state) {
    return {
      streamId: c.uint.decode(state),
      seq: c.uint.decode(state),
      text: c.string.decode(state),
      tokens: tokenIds.decode(state)
    }
  }
}

export const streamCredit: Encoding<StreamCredit> = {
  preencode(state, m) {
    c.uint.preencode(state, m.streamId)
    c.uint.preencode(state, m.credits)
  },
  encode(state, m) {
    c.uint.encode(state, m.streamId)
    c.uint.encode(state, m.credits)
  },
  decode(state) {
    return { streamId: c.uint.decode(state), credits: c.uint.decode(state) }
  }
}

export const cancelRequest: Encoding<{ streamId: number }> = {
  preencode(state, m) {
    c.uint.preencode(state, m.streamId)
  },
  encode(state, m) {
    c.uint.encode(state, m.streamId)
  },
  decode(state) {
    return { streamId: c.uint.decode(state) }
  }
}

/** Whether a running stream was found and stopped (false: it had already ended). */
export const cancelResponse: Encoding<{ cancelled: boolean }> = {
  preencode(state, m) {
    c.bool.preencode(state, m.cancelled)
  },
  encode(state, m) {
    c.bool.encode(state, m.cancelled)
  },
  decode(state) {
    return { cancelled: c.bool.decode(state) }
  }
}

// ---------------------------------------------------------------------------------------------
// Registry entries: the values of the Hyperbee behind `registry://NAME` (key: the name, utf-8),
// replicated between peers like any other message. flags: bit 0 engine, bit 1 quantization,
// bit 2 description.

export interface RegistryEntryValue {
  /** Where the bytes are: a hyperdrive:// (or http(s)://) URI. */
  source: string
  /** SHA-256 of the file, lowercase hex (32 bytes on the wire). */
  sha256: string
  size: number
  engine?: string
  quantization?: string
  description?: string
}

const ENGINE = 1
const QUANTIZATION = 2
const DESCRIPTION = 4

export const registryEntry: Encoding<RegistryEntryValue> = {
  preencode(state, m) {
    c.uint.preencode(state, registryEntryFlags(m))
    c.string.preencode(state, m.source)
    c.fixed32.preencode(state, Buffer.from(m.sha256, 'hex'))
    c.uint.preencode(state, m.size)
    if (m.engine !== undefined) c.string.preencode(state, m.engine)
    if (m.quantization !== undefined) c.string.preencode(state, m.quantization)
    if (m.description !== undefined) c.string.preencode(state, m.description)
  },
  encode(state, m) {
    c.uint.encode(state, registryEntryFlags(m))
    c.string.encode(state, m.source)
    c.fixed32.encode(state, Buffer.from(m.sha256, 'hex'))
    c.uint.encode(state, m.size)
    if (m.engine !== undefined) c.string.encode(state, m.engine)
    if (m.quantization !== undefined) c.string.encode(state, m.quantization)
    if (m.description !== undefined) c.string.encode(state, m.description)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const entry: RegistryEntryValue = {
      source: c.string.decode(state),
      sha256: fixed32.decode(state).toString('hex'),
      size: c.uint.decode(state)
    }
    if (flags & ENGINE) entry.engine = c.string.decode(state)
    if (flags & QUANTIZATION) entry.quantization = c.string.decode(state)
    if (flags & DESCRIPTION) entry.description = c.string.decode(state)
    return entry
  }
}

function registryEntryFlags(m: RegistryEntryValue): number {
  return (m.engine !== undefined ? ENGINE : 0) | (m.quantization !== undefined ? QUANTIZATION : 0) | (m.description !== undefined ? DESCRIPTION : 0)
}

// ---------------------------------------------------------------------------------------------
// Model management, for `qvacd list / rm / ps`. `listCache` and `removeCache` are the operator's
// alone (control socket): the cache names the host's files. `listLoaded` is what `ps` shows.

export interface CachedModel {
  sha256: string
  size: number
  /** Every source that resolved to these bytes, as the daemon was asked for them. */
  sources: string[]
  lastUsedAt: number // ms since the epoch
  /** Ids of the loaded models reading this file (empty: not loaded). */
  loaded: string[]
}

export interface CacheListing {
  models: CachedModel[]
  totalBytes: number
  /** The cache size limit (0: none); least recently used unloaded models go first. */
  maxBytes: number
}

export interface RemoveCacheRequest {
  /** A source as pulled, or a SHA-256 (a unique prefix of at least 8 hex digits). */
  target: string
  /** Unload the model first if it is loaded (else MODEL_IN_USE). */
  force: boolean
}

export interface RemoveCacheResponse {
  removed: Array<{ sha256: string; size: number }>
  unloaded: string[]
}

export interface LoadedModel {
  modelId: string
  source: string
  sizeBytes: number
  /** Model weights plus context state held in memory. */
  memoryBytes: number
  sequences: number
  activeStreams: number
  queuedStreams: number
  references: number
  loadedAt: number // ms since the epoch
  lastUsedAt: number // ms since the epoch
  /** When the keep-alive unloads it if it stays idle (0: never). */
  expiresAt: number
}

const cachedModel: Encoding<CachedModel> = {
  preencode(state, m) {
    c.string.preencode(state, m.sha256)
    c.uint.preencode(state, m.size)
    c.array(c.string).preencode(state, m.sources)
    c.uint.preencode(state, m.lastUsedAt)
    c.array(c.string).preencode(state, m.loaded)
  },
  encode(state, m) {
    c.string.encode(state, m.sha256)
    c.uint.encode(state, m.size)
    c.array(c.string).encode(state, m.sources)
    c.uint.encode(state, m.lastUsedAt)
    c.array(c.string).encode(state, m.loaded)
  },
  decode(state) {
    return {
      sha256: c.string.decode(state),
      size: c.uint.decode(state),
      sources: c.array(c.string).decode(state),
      lastUsedAt: c.uint.decode(state),
      loaded: c.array(c.string).decode(state)
    }
  }
}

export const listCacheRequest = c.none

export const listCacheResponse: Encoding<CacheListing> = {
  preencode(state, m) {
    c.array(cachedModel).preencode(state, m.models)
    c.uint.preencode(state, m.totalBytes)
    c.uint.preencode(state, m.maxBytes)
  },
  encode(state, m) {
    c.array(cachedModel).encode(state, m.models)
    c.uint.encode(state, m.totalBytes)
    c.uint.encode(state, m.maxBytes)
  },
  decode(state) {
    return { models: c.array(cachedModel).decode(state), totalBytes: c.uint.decode(state), maxBytes: c.uint.decode(state) }
  }
}

export const removeCacheRequest: Encoding<RemoveCacheRequest> = {
  preencode(state, m) {
    c.string.preencode(state, m.target)
    c.bool.preencode(state, m.force)
  },
  encode(state, m) {
    c.string.encode(state, m.target)
    c.bool.encode(state, m.force)
  },
  decode(state) {
    return { target: c.string.decode(state), force: c.bool.decode(state) }
  }
}

const removedFile = pair(c.string, c.uint)

export const removeCacheResponse: Encoding<RemoveCacheResponse> = {
  preencode(state, m) {
    c.array(removedFile).preencode(state, m.removed.map((r) => [r.sha256, r.size]))
    c.array(c.string).preencode(state, m.unloaded)
  },
  encode(state, m) {
    c.array(removedFile).encode(state, m.removed.map((r) => [r.sha256, r.size]))
    c.array(c.string).encode(state, m.unloaded)
  },
  decode(state) {
    return {
      removed: c.array(removedFile).decode(state).map(([sha256, size]) => ({ sha256, size })),
      unloaded: c.array(c.string).decode(state)
    }
  }
}

const loadedModel: Encoding<LoadedModel> = {
  preencode(state, m) {
    c.string.preencode(state, m.modelId)
    c.string.preencode(state, m.source)
    c.uint.preencode(state, m.sizeBytes)
    c.uint.preencode(state, m.memoryBytes)
    c.uint.preencode(state, m.sequences)
    c.uint.preencode(state, m.activeStreams)
    c.uint.preencode(state, m.queuedStreams)
    c.uint.preencode(state, m.references)
    c.uint.preencode(state, m.loadedAt)
    c.uint.preencode(state, m.lastUsedAt)
    c.uint.preencode(state, m.expiresAt)
  },
  encode(state, m) {
    c.string.encode(state, m.modelId)
    c.string.encode(state, m.source)
    c.uint.encode(state, m.sizeBytes)
    c.uint.encode(state, m.memoryBytes)
    c.uint.encode(state, m.sequences)
    c.uint.encode(state, m.activeStreams)
    c.uint.encode(state, m.queuedStreams)
    c.uint.encode(state, m.references)
    c.uint.encode(state, m.loadedAt)
    c.uint.encode(state, m.lastUsedAt)
    c.uint.encode(state, m.expiresAt)
  },
  decode(state) {
    return {
      modelId: c.string.decode(state),
      source: c.string.decode(state),
      sizeBytes: c.uint.decode(state),
      memoryBytes: c.uint.decode(state),
      sequences: c.uint.decode(state),
      activeStreams: c.uint.decode(state),
      queuedStreams: c.uint.decode(state),
      references: c.uint.decode(state),
      loadedAt: c.uint.decode(state),
      lastUsedAt: c.uint.decode(state),
      expiresAt: c.uint.decode(state)
    }
  }
}

export const listLoadedRequest = c.none

export const listLoadedResponse: Encoding<{ models: LoadedModel[] }> = {
  preencode(state, m) {
    c.array(loadedModel).preencode(state, m.models)
  },
  encode(state, m) {
    c.array(loadedModel).encode(state, m.models)
  },
  decode(state) {
    return { models: c.array(loadedModel).decode(state) }
  }
}

// ---------------------------------------------------------------------------------------------
// The publisher socket (`<storage>/publisher.sock`): while `qvacd publish` seeds, it holds the
// publisher store, and the other publish and registry commands on that storage send their work to
// it here. Local only (same machine and user); never served on the swarm. Frames as above
// (responseFrame), request bodies below.

export interface PublishFileRequest {
  /** An absolute path on this machine. */
  file: string
  name?: string
  /** Also add it to the store's registry under this name. */
  registryName?: string
  engine?: string
  quantization?: string
  description?: string
}

export interface PublishFileResponse {
  uri: string
  key: Buffer
  size: number
  sha256: string
  written: boolean
  entry?: RegistryEntryValue & { name: string }
}

export interface NamedRegistryEntry {
  name: string
  value: RegistryEntryValue
}

const optionalString = (state: State, value: string | undefined, op: 'preencode' | 'encode') => {
  if (value !== undefined) c.string[op](state, value)
}

export const publishFileRequest: Encoding<PublishFileRequest> = {
  preencode(state, m) {
    c.uint.preencode(state, publishFlags(m))
    c.string.preencode(state, m.file)
    for (const v of [m.name, m.registryName, m.engine, m.quantization, m.description]) optionalString(state, v, 'preencode')
  },
  encode(state, m) {
    c.uint.encode(state, publishFlags(m))
    c.string.encode(state, m.file)
    for (const v of [m.name, m.registryName, m.engine, m.quantization, m.description]) optionalString(state, v, 'encode')
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const m: PublishFileRequest = { file: c.string.decode(state) }
    if (flags & 1) m.name = c.string.decode(state)
    if (flags & 2) m.registryName = c.string.decode(state)
    if (flags & 4) m.engine = c.string.decode(state)
    if (flags & 8) m.quantization = c.string.decode(state)
    if (flags & 16) m.description = c.string.decode(state)
    return m
  }
}

function publishFlags(m: PublishFileRequest): number {
  return presentFlags([m.name, m.registryName, m.engine, m.quantization, m.description])
}

export const namedRegistryEntry: Encoding<NamedRegistryEntry> = {
  preencode(state, m) {
    c.string.preencode(state, m.name)
    registryEntry.preencode(state, m.value)
  },
  encode(state, m) {
    c.string.encode(state, m.name)
    registryEntry.encode(state, m.value)
  },
  decode(state) {
    return { name: c.string.decode(state), value: registryEntry.decode(state) }
  }
}

export const publishFileResponse: Encoding<PublishFileResponse> = {
  preencode(state, m) {
    c.uint.preencode(state, m.entry ? 1 : 0)
    c.string.preencode(state, m.uri)
    c.fixed32.preencode(state, m.key)
    c.uint.preencode(state, m.size)
    c.string.preencode(state, m.sha256)
    c.bool.preencode(state, m.written)
    if (m.entry) namedRegistryEntry.preencode(state, splitEntry(m.entry))
  },
  encode(state, m) {
    c.uint.encode(state, m.entry ? 1 : 0)
    c.string.encode(state, m.uri)
    c.fixed32.encode(state, m.key)
    c.uint.encode(state, m.size)
    c.string.encode(state, m.sha256)
    c.bool.encode(state, m.written)
    if (m.entry) namedRegistryEntry.encode(state, splitEntry(m.entry))
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const m: PublishFileResponse = {
      uri: c.string.decode(state),
      key: fixed32.decode(state),
      size: c.uint.decode(state),
      sha256: c.string.decode(state),
      written: c.bool.decode(state)
    }
    if (flags & 1) {
      const { name, value } = namedRegistryEntry.decode(state)
      m.entry = { name, ...value }
    }
    return m
  }
}

function splitEntry(entry: RegistryEntryValue & { name: string }): NamedRegistryEntry {
  const { name, ...value } = entry
  return { name, value }
}

export interface RegistryListRequest {
  /** Another registry's key; omitted: the store's own. */
  key?: Buffer
  /** How long to look for a peer that has it before SOURCE_UNAVAILABLE. */
  timeoutMs: number
}

export const registryListRequest: Encoding<RegistryListRequest> = {
  preencode(state, m) {
    c.uint.preencode(state, m.key ? 1 : 0)
    if (m.key) c.fixed32.preencode(state, m.key)
    c.uint.preencode(state, m.timeoutMs)
  },
  encode(state, m) {
    c.uint.encode(state, m.key ? 1 : 0)
    if (m.key) c.fixed32.encode(state, m.key)
    c.uint.encode(state, m.timeoutMs)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    return { key: flags & 1 ? fixed32.decode(state) : undefined, timeoutMs: c.uint.decode(state) }
  }
}

export const registryKeyResponse: Encoding<{ key: Buffer }> = {
  preencode(state, m) {
    c.fixed32.preencode(state, m.key)
  },
  encode(state, m) {
    c.fixed32.encode(state, m.key)
  },
  decode(state) {
    return { key: fixed32.decode(state) }
  }
}

export const registryEntries = c.array(namedRegistryEntry)

/** The publisher socket's methods: name → request and response bodies. */
export const publisherMethods = {
  publishFile: { request: publishFileRequest, response: publishFileResponse },
  registryCreate: { request: c.none, response: registryKeyResponse },
  registryAdd: { request: namedRegistryEntry, response: namedRegistryEntry },
  registryList: { request: registryListRequest, response: registryEntries }
} as const

export type PublisherMethodName = keyof typeof publisherMethods
export type PublisherRequestOf<M extends PublisherMethodName> = Decoded<(typeof publisherMethods)[M]['request']>
export type PublisherResponseOf<M extends PublisherMethodName> = Decoded<(typeof publisherMethods)[M]['response']>

// ---------------------------------------------------------------------------------------------
// embed: a batch of inputs → one vector per input, from a model loaded with modelType 'embedding'.
// Vectors travel as float32 arrays (what the backend computes; half the bytes of float64).

export interface EmbedRequest {
  modelId: string
  inputs: string[]
  delegate?: DelegateTarget
}

export interface EmbedResponse {
  vectors: Float32Array[]
  /** Tokens of each input as the model saw it (BOS/EOS included). */
  promptTokens: number[]
  /** ms computing the vectors, ms waiting for the model, ms from the request to the response. */
  embedTime: number
  queueMs: number
  totalTime: number
}

// flags: bit 0 delegate
export const embedRequest: Encoding<EmbedRequest> = {
  preencode(state, m) {
    c.uint.preencode(state, presentFlags([m.delegate]))
    c.string.preencode(state, m.modelId)
    c.array(c.string).preencode(state, m.inputs)
    if (m.delegate !== undefined) delegateTarget.preencode(state, m.delegate)
  },
  encode(state, m) {
    c.uint.encode(state, presentFlags([m.delegate]))
    c.string.encode(state, m.modelId)
    c.array(c.string).encode(state, m.inputs)
    if (m.delegate !== undefined) delegateTarget.encode(state, m.delegate)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const m: EmbedRequest = { modelId: c.string.decode(state), inputs: c.array(c.string).decode(state) }
    if (flags & 1) m.delegate = delegateTarget.decode(state)
    return m
  }
}

export const embedResponse: Encoding<EmbedResponse> = {
  preencode(state, m) {
    c.array(c.float32array).preencode(state, m.vectors)
    c.array(c.uint).preencode(state, m.promptTokens)
    float64.preencode(state, m.embedTime)
    float64.preencode(state, m.queueMs)
    float64.preencode(state, m.totalTime)
  },
  encode(state, m) {
    c.array(c.float32array).encode(state, m.vectors)
    c.array(c.uint).encode(state, m.promptTokens)
    float64.encode(state, m.embedTime)
    float64.encode(state, m.queueMs)
    float64.encode(state, m.totalTime)
  },
  decode(state) {
    return {
      vectors: c.array(c.float32array).decode(state),
      promptTokens: c.array(c.uint).decode(state),
      embedTime: float64.decode(state),
      queueMs: float64.decode(state),
      totalTime: float64.decode(state)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// load (event, daemon → every connected peer): what the daemon serves and how busy it is, pushed
// on change (at most a few per second) and at least every couple of seconds, which also makes it
// the application heartbeat a client uses to notice a lost daemon. Also the tail of `status`.

export interface ModelLoad {
  modelId: string
  source: string
  /** Hex SHA-256 of the model file; '' until the daemon has it. */
  sha256: string
  sequences: number
  busy: number
  queued: number
}

export interface LoadReport {
  /** Counts up per daemon run: a report older than the last one seen is stale. */
  seq: number
  version: string
  /** 'cpu' or the GPU backend's name. */
  backend: string
  threads: number
  openStreams: number
  queued: number
  /** Recent medians (ms; tokens/s); 0 before the first stream. */
  ttftP50: number
  tokensPerSecondP50: number
  models: ModelLoad[]
}

const modelLoad: Encoding<ModelLoad> = {
  preencode(state, m) {
    c.string.preencode(state, m.modelId)
    c.string.preencode(state, m.source)
    c.string.preencode(state, m.sha256)
    c.uint.preencode(state, m.sequences)
    c.uint.preencode(state, m.busy)
    c.uint.preencode(state, m.queued)
  },
  encode(state, m) {
    c.string.encode(state, m.modelId)
    c.string.encode(state, m.source)
    c.string.encode(state, m.sha256)
    c.uint.encode(state, m.sequences)
    c.uint.encode(state, m.busy)
    c.uint.encode(state, m.queued)
  },
  decode(state) {
    return {
      modelId: c.string.decode(state),
      source: c.string.decode(state),
      sha256: c.string.decode(state),
      sequences: c.uint.decode(state),
      busy: c.uint.decode(state),
      queued: c.uint.decode(state)
    }
  }
}

// flags: none yet (reserved for optional fields of later versions).
export const loadReport: Encoding<LoadReport> = {
  preencode(state, m) {
    c.uint.preencode(state, 0)
    c.uint.preencode(state, m.seq)
    c.string.preencode(state, m.version)
    c.string.preencode(state, m.backend)
    c.uint.preencode(state, m.threads)
    c.uint.preencode(state, m.openStreams)
    c.uint.preencode(state, m.queued)
    float64.preencode(state, m.ttftP50)
    float64.preencode(state, m.tokensPerSecondP50)
    c.array(modelLoad).preencode(state, m.models)
  },
  encode(state, m) {
    c.uint.encode(state, 0)
    c.uint.encode(state, m.seq)
    c.string.encode(state, m.version)
    c.string.encode(state, m.backend)
    c.uint.encode(state, m.threads)
    c.uint.encode(state, m.openStreams)
    c.uint.encode(state, m.queued)
    float64.encode(state, m.ttftP50)
    float64.encode(state, m.tokensPerSecondP50)
    c.array(modelLoad).encode(state, m.models)
  },
  decode(state) {
    c.uint.decode(state)
    return {
      seq: c.uint.decode(state),
      version: c.string.decode(state),
      backend: c.string.decode(state),
      threads: c.uint.decode(state),
      openStreams: c.uint.decode(state),
      queued: c.uint.decode(state),
      ttftP50: float64.decode(state),
      tokensPerSecondP50: float64.decode(state),
      models: c.array(modelLoad).decode(state)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The method table: name → request and response bodies. Both sides take codecs from here only.

export const methods = {
  ping: { request: pingRequest, response: pingResponse },
  status: { request: statusRequest, response: statusResponse },
  downloadAsset: { request: downloadAssetRequest, response: downloadAssetResponse },
  loadModel: { request: loadModelRequest, response: loadModelResponse },
  unloadModel: { request: unloadModelRequest, response: unloadModelResponse },
  infer: { request: inferRequest, response: streamTrailer },
  cancel: { request: cancelRequest, response: cancelResponse },
  listCache: { request: listCacheRequest, response: listCacheResponse },
  removeCache: { request: removeCacheRequest, response: removeCacheResponse },
  listLoaded: { request: listLoadedRequest, response: listLoadedResponse },
  embed: { request: embedRequest, response: embedResponse }
} as const

/** One-way messages (protomux-rpc events) of the infer stream. */
export const events = {
  'infer.chunk': streamChunk, // daemon → client
  'infer.credit': streamCredit, // client → daemon
  'download.progress': downloadProgress, // daemon → client
  load: loadReport // daemon → every connected peer
} as const

export type EventName = keyof typeof events
export type EventOf<E extends EventName> = Decoded<(typeof events)[E]>

export type MethodName = keyof typeof methods
export type RequestOf<M extends MethodName> = Decoded<(typeof methods)[M]['request']>
export type ResponseOf<M extends MethodName> = Decoded<(typeof methods)[M]['response']>
type Decoded<E> = E extends Encoding<infer T> ? T : never

// ---------------------------------------------------------------------------------------------

function pair<A, B>(a: Encoding<A>, b: Encoding<B>): Encoding<[A, B]> {
  return {
    preencode(state, [x, y]) {
      a.preencode(state, x)
      b.preencode(state, y)
    },
    encode(state, [x, y]) {
      a.encode(state, x)
      b.encode(state, y)
    },
    decode(state) {
      return [a.decode(state), b.decode(state)]
    }
  }
}

/** Decodes a value that must fill the rest of the buffer: trailing bytes are a malformed message. */
function decodeToEnd<T>(enc: Encoding<T>, state: State): T {
  const value = enc.decode(state)
  if (state.start !== state.end) throw new RangeError('trailing bytes after message')
  return value
}
