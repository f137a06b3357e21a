import crypto from 'node:crypto'
import type { ProfilingEnvelope } from '../shared/messages.ts'
import type { CallRecord } from '../shared/profiler/types.ts'
import type { RpcResult } from './rpc-call.ts'

/** A result that carries the daemon's profiling envelope when the call asked for it. */
export type Profiled<T> = T & { __profiling?: ProfilingEnvelope }

// Ids: a random prefix per process and a counter: unique, without a random draw per call.
const ID_PREFIX = crypto.randomBytes(6).toString('hex')
let idCounter = 0

/** A fresh trace or profile id (20 hex characters). */
export function newTraceId(): string {
  return ID_PREFIX + (idCounter++ % 0xffffffff).toString(16).padStart(8, '0')
}

/**
 * The client's record of one profiled call, from its timing and the daemon's envelope. Without a
 * trace id of the caller's, the trace is the one the daemon started (its own event carries it).
 */
export function callRecord(
  method: string,
  traceId: string | undefined,
  ts: number,
  clientTotalMs: number,
  result: Pick<RpcResult<unknown>, 'profiling' | 'bytesSent' | 'bytesReceived'>
): CallRecord {
  const envelope = result.profiling
  const own = envelope?.events.find((e) => e.hop === 0)
  return {
    profileId: own?.profileId ?? newTraceId(),
    method,
    traceId: traceId ?? own?.traceId ?? newTraceId(),
    ts,
    clientTotalMs,
    serverBreakdown: envelope?.serverBreakdown,
    delegationBreakdown: envelope?.delegationBreakdown,
    bytesSent: result.bytesSent,
    bytesReceived: result.bytesReceived,
    events: envelope?.events ?? []
  }
}
