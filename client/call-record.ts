import type { ProfilingEnvelope } from '../shared/messages.ts'
import type { CallRecord } from '../shared/profiler/types.ts'
import { newTraceId } from '../shared/profiler/ids.ts'
import type { RpcResult } from './rpc-call.ts'

/** A result that carries the daemon's profiling envelope when the call asked for it. */
export type Profiled<T> = T & { __profiling?: ProfilingEnvelope }

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
