import crypto from 'node:crypto'
import type { ProfilingEnvelope } from './messages.ts'
import type { CallRecord } from './profiler/types.ts'
import type { RpcResult } from './rpc-call.ts'

/** A result that carries the daemon's profiling envelope when the call asked for it. */
export type Profiled<T> = T & { __profiling?: ProfilingEnvelope }

export function newTraceId(): string {
  return crypto.randomBytes(8).toString('hex')
}

/** The client's record of one profiled call, from its timing and the daemon's envelope. */
export function callRecord(
  method: string,
  traceId: string,
  ts: number,
  clientTotalMs: number,
  result: Pick<RpcResult<unknown>, 'profiling' | 'bytesSent' | 'bytesReceived'>
): CallRecord {
  const envelope = result.profiling
  return {
    profileId: envelope?.events.find((e) => e.hop === 0)?.profileId ?? newTraceId(),
    method,
    traceId,
    ts,
    clientTotalMs,
    serverBreakdown: envelope?.serverBreakdown,
    delegationBreakdown: envelope?.delegationBreakdown,
    bytesSent: result.bytesSent,
    bytesReceived: result.bytesReceived,
    events: envelope?.events ?? []
  }
}
