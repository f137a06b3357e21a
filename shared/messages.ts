// The qvacd wire schema, protocol version 1: every value that crosses a connection, in one place.
// Read top to bottom: handshake, the request/response frames every method shares, the error
// envelope, then each method's messages. Layout rule: a leading `flags` uint says which optional
// fields follow; fields never change meaning within a protocol version.
import c, { type Encoding, type State } from 'compact-encoding'
import type { ErrorDetailValue, ErrorDetails, WireError } from './errors.ts'

// ---------------------------------------------------------------------------------------------
// Handshake: sent by both sides when the `qvac/rpc` channel opens. `protocolVersion` is first and
// stays first in every version, so any two versions can read each other's and refuse cleanly.

export const PeerRole = { DAEMON: 0, CLIENT: 1 } as const
export type PeerRole = (typeof PeerRole)[keyof typeof PeerRole]

export interface Handshake {
  protocolVersion: number
  softwareVersion: string
  role: PeerRole
}

export const handshake: Encoding<Handshake> = {
  preencode(state, m) {
    c.uint.preencode(state, m.protocolVersion)
    c.string.preencode(state, m.softwareVersion)
    c.uint.preencode(state, m.role)
  },
  encode(state, m) {
    c.uint.encode(state, m.protocolVersion)
    c.string.encode(state, m.softwareVersion)
    c.uint.encode(state, m.role)
  },
  decode(state) {
    const protocolVersion = c.uint.decode(state)
    // Anything after the version may differ in another version: read it only if it parses.
    let softwareVersion = 'unknown'
    let role: PeerRole = PeerRole.CLIENT
    try {
      softwareVersion = c.string.decode(state)
      role = c.uint.decode(state) === PeerRole.DAEMON ? PeerRole.DAEMON : PeerRole.CLIENT
    } catch {}
    state.start = state.end
    return { protocolVersion, softwareVersion, role }
  }
}

// ---------------------------------------------------------------------------------------------
// Request frame: a header every method shares, then the method's own body.
// flags: bit 0 = timeoutMs present (the caller's remaining deadline, enforced by the daemon too).

export interface RequestHeader {
  timeoutMs?: number
}

export function requestFrame<T>(body: Encoding<T>): Encoding<{ header: RequestHeader; body: T }> {
  return {
    preencode(state, m) {
      c.uint.preencode(state, 0)
      if (m.header.timeoutMs !== undefined) c.uint.preencode(state, m.header.timeoutMs)
      body.preencode(state, m.body)
    },
    encode(state, m) {
      const hasTimeout = m.header.timeoutMs !== undefined
      c.uint.encode(state, hasTimeout ? 1 : 0)
      if (hasTimeout) c.uint.encode(state, m.header.timeoutMs as number)
      body.encode(state, m.body)
    },
    decode(state) {
      const flags = c.uint.decode(state)
      const header: RequestHeader = {}
      if (flags & 1) header.timeoutMs = c.uint.decode(state)
      return { header, body: decodeToEnd(body, state) }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Response frame: flags bit 0 = error (a WireError follows) else the method's response body.

export type ResponseFrame<T> = { ok: true; value: T } | { ok: false; error: WireError }

export function responseFrame<T>(body: Encoding<T>): Encoding<ResponseFrame<T>> {
  return {
    preencode(state, m) {
      c.uint.preencode(state, 0)
      if (m.ok) body.preencode(state, m.value)
      else wireError.preencode(state, m.error)
    },
    encode(state, m) {
      c.uint.encode(state, m.ok ? 0 : 1)
      if (m.ok) body.encode(state, m.value)
      else wireError.encode(state, m.error)
    },
    decode(state) {
      const flags = c.uint.decode(state)
      if (flags & 1) return { ok: false, error: decodeToEnd(wireError, state) }
      return { ok: true, value: decodeToEnd(body, state) }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors: numeric code, symbolic name, message, typed details; the remote stack only in debug.

const detailValue: Encoding<ErrorDetailValue> = {
  preencode(state, v) {
    c.uint8.preencode(state, 0)
    if (typeof v === 'string') c.string.preencode(state, v)
    else if (typeof v === 'number') c.float64.preencode(state, v)
    else if (typeof v === 'boolean') c.bool.preencode(state, v)
  },
  encode(state, v) {
    if (typeof v === 'string') {
      c.uint8.encode(state, 1)
      c.string.encode(state, v)
    } else if (typeof v === 'number') {
      c.uint8.encode(state, 2)
      c.float64.encode(state, v)
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
        return c.float64.decode(state)
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
    c.uint.preencode(state, 0)
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
  inFlight: number
  methods: MethodStatus[]
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
      publicKey: c.fixed32.decode(state),
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
  },
  encode(state, m) {
    c.string.encode(state, m.modelId)
    c.string.encode(state, m.source)
  },
  decode(state) {
    return { modelId: c.string.decode(state), source: c.string.decode(state) }
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
    c.uint.preencode(state, m.inFlight)
    c.array(methodStatus).preencode(state, m.methods)
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
    c.uint.encode(state, m.inFlight)
    c.array(methodStatus).encode(state, m.methods)
  },
  decode(state) {
    return {
      publicKey: c.fixed32.decode(state),
      topic: c.fixed32.decode(state),
      topicName: c.string.decode(state),
      version: c.string.decode(state),
      protocolVersion: c.uint.decode(state),
      startedAt: c.uint.decode(state),
      uptimeMs: c.uint.decode(state),
      peers: c.array(peerStatus).decode(state),
      models: c.array(modelStatus).decode(state),
      inFlight: c.uint.decode(state),
      methods: c.array(methodStatus).decode(state)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The method table: name → request and response bodies. Both sides take codecs from here only.

export const methods = {
  ping: { request: pingRequest, response: pingResponse },
  status: { request: statusRequest, response: statusResponse }
} as const

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
