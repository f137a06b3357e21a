import c from 'compact-encoding'
import { QvacError, type ErrorName } from '../shared/errors.ts'
import { formatKey } from '../shared/keys.ts'
import {
  completeEnvelope,
  methods,
  requestFrame,
  responseFrame,
  type MethodName,
  type ProfilingEnvelope,
  type RequestHeader,
  type RequestOf,
  type ResponseOf
} from '../shared/messages.ts'
import type { CallGuard } from './call-guard.ts'
import type { Connection } from './qvac-client.ts'

const frames = Object.fromEntries(
  Object.entries(methods).map(([name, m]) => [
    name,
    { request: requestFrame<unknown>(m.request), response: responseFrame<unknown>(m.response) }
  ])
) as Record<MethodName, { request: ReturnType<typeof requestFrame<unknown>>; response: ReturnType<typeof responseFrame<unknown>> }>

const rpcErrorCodes: Record<string, ErrorName> = {
  CHANNEL_CLOSED: 'CONNECTION_LOST',
  CHANNEL_DESTROYED: 'CONNECTION_LOST',
  UNKNOWN_METHOD: 'METHOD_NOT_FOUND'
}

/**
 * The largest request frame sent: secret-stream frames carry a 24-bit length (16 MiB), less
 * protomux and protomux-rpc headers. A larger one would drop the connection; it is refused here.
 */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024 - 64 * 1024

export interface RpcResult<T> {
  value: T
  /** Present when the request asked for profiling. */
  profiling?: ProfilingEnvelope
  bytesSent: number
  bytesReceived: number
}

/**
 * Sends one request over an open channel and returns the decoded response, or throws the
 * daemon's QvacError. protomux-rpc's own failures map to typed codes here, once.
 */
export async function callRpc<M extends MethodName>(
  connection: Pick<Connection, 'rpc' | 'remotePublicKey'>,
  method: M,
  body: RequestOf<M>,
  guard: CallGuard,
  header: Omit<RequestHeader, 'timeoutMs'> = {}
): Promise<RpcResult<ResponseOf<M>>> {
  const frame = frames[method]
  let request: Buffer
  try {
    // One fixed-shape header object (a spread copies on a slow path).
    const full: RequestHeader = { timeoutMs: guard.remaining(), profiling: header.profiling, traceId: header.traceId, hop: header.hop }
    request = c.encode(frame.request, { header: full, body }) as Buffer
  } catch (err) {
    throw new QvacError('INVALID_ARGUMENT', `${method}: the request cannot be encoded: ${(err as Error).message}`, { cause: err })
  }
  if (request.byteLength > MAX_REQUEST_BYTES) {
    throw new QvacError('REQUEST_TOO_LARGE', `${method}: the request is ${request.byteLength} bytes; a frame holds at most ${MAX_REQUEST_BYTES}`, {
      details: { bytes: request.byteLength, maxBytes: MAX_REQUEST_BYTES }
    })
  }

  let raw: Buffer
  try {
    raw = await guard.run(connection.rpc.request<Buffer>(method, request, { requestEncoding: c.raw, responseEncoding: c.raw }))
  } catch (err) {
    if (err instanceof QvacError) throw err
    const code = (err as { code?: string }).code
    const name = (code && rpcErrorCodes[code]) || 'INTERNAL_ERROR'
    throw new QvacError(name, `${method}: ${(err as Error).message}`, { cause: err })
  }

  let response
  try {
    response = c.decode(frame.response, raw)
  } catch (err) {
    throw new QvacError('INTERNAL_ERROR', `${method}: malformed response from the daemon`, { cause: err })
  }
  if (!response.ok) throw QvacError.fromWire(response.error)
  const wire = response.profiling
  return {
    value: response.value as ResponseOf<M>,
    profiling: wire && completeEnvelope(wire, { method, traceId: header.traceId, hop: header.hop ?? 0, daemon: daemonText(connection.remotePublicKey) }),
    bytesSent: request.byteLength,
    bytesReceived: raw.byteLength
  }
}

const keyTexts = new WeakMap<Buffer, string>()

/** The daemon's key as events name it, formatted once per connection's key. */
function daemonText(key: Buffer | null): string | null {
  if (key === null) return null
  let text = keyTexts.get(key)
  if (text === undefined) keyTexts.set(key, (text = formatKey(key)))
  return text
}
