/** Where the operation events of a call travel: in `__profiling` envelopes, trailers and exports. */
export const OPERATION_EVENT_KEY = '__operationEvents'

export type OperationKind = 'rpc' | 'handler' | 'download' | 'load' | 'inference' | 'delegation'

/** One timed piece of work a handler did, on this daemon or on a provider it delegated to. */
export interface OperationEvent {
  /** 'loadModel', 'infer', 'downloadAsset', 'ping', … */
  op: string
  kind: OperationKind
  /** Id of the call record this belongs to. */
  profileId: string
  /** Follows a call across daemons (hex). */
  traceId: string
  /** z32 key of the peer that did the work, or 'local'. */
  peer: string
  /** 0 = the daemon the client called, 1 = its provider, … */
  hop: number
  /** Epoch ms when the operation started. */
  ts: number
  ms: number
  bytes?: number
  /** totalLoadTime, timeToFirstToken, tokensPerSecond, … (names as DESIGN.md's Profiling section). */
  gauges: Record<string, number>
  /** modelType, sourceType, cacheHit ('true'/'false'), stopReason, backendDevice, … */
  tags: Record<string, string>
}

export interface ServerBreakdown {
  decodeMs: number
  queueMs: number
  handlerMs: number
  encodeMs: number
  totalServerMs: number
}

export interface DelegationBreakdown {
  connectionMs: number
  serverWaitMs: number
  totalDelegationMs: number
}

/** One call as the caller saw it, with what the daemon (and its providers) reported. */
export interface CallRecord {
  profileId: string
  method: string
  traceId: string
  ts: number
  clientTotalMs: number
  serverBreakdown?: ServerBreakdown
  /** max(0, clientTotalMs − totalServerMs), set by the profiler when serverBreakdown is present. */
  clientOverheadMs?: number
  bytesSent: number
  bytesReceived: number
  delegationBreakdown?: DelegationBreakdown
  events: OperationEvent[]
}

export type ProfilerMode = 'summary' | 'verbose'

export interface ProfilerOptions {
  /** 'verbose' also keeps the last records and their events for exportJSON(). */
  mode?: ProfilerMode
  /** Aggregate the server's decode/queue/handler/encode times per method. */
  includeServerBreakdown?: boolean
  /** Keep only events whose op or kind matches one of these (exact, or a glob with `*`); empty keeps all. */
  operationFilters?: string[]
}

/** Duration in ms; bytes; throughput in bytes/s; rate per second (e.g. tokens/s); count. */
export type MetricType = 'duration' | 'bytes' | 'throughput' | 'rate' | 'count'

export interface MetricSummary {
  type: MetricType
  count: number
  min: number
  max: number
  avg: number
  sum: number
  last: number
  p50: number
  p90: number
  p95: number
  p99: number
}

export interface ProfileExport {
  mode: ProfilerMode
  enabled: boolean
  metrics: Record<string, MetricSummary>
  records?: CallRecord[]
  [OPERATION_EVENT_KEY]?: OperationEvent[]
}
