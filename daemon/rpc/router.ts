import c, { type Encoder as Encoding } from 'compact-encoding'
import type ProtomuxRPC from 'protomux-rpc'
import { QvacError, toWireError, type WireError } from '../../shared/errors.ts'
import {
  encodeResponse,
  encodeProfiledResponse,
  type EnvelopeSource,
  events,
  methods,
  type EventName,
  type EventOf,
  requestFrame,
  responseFrame,
  type WireProfiling,
  type ResponseFrame,
  type RequestHeader,
  type MethodName,
  type MethodStatus,
  type StreamStatus,
  type RequestOf,
  type ResponseOf
} from '../../shared/messages.ts'
import type { Logger } from '../log.ts'
import { formatKey } from '../../shared/keys.ts'
import type { DelegationBreakdown, OperationEvent, OperationKind, ServerBreakdown } from '../../shared/profiler/types.ts'
import { Profiler } from '../../client/profiler/profiler.ts'
import { idText, nextId } from '../../shared/profiler/ids.ts'
import { epochMs } from '../../shared/profiler/clock.ts'
import { StreamTable } from '../stream/stream-table.ts'

/** Who a call came from: a swarm peer, or the local control socket. */
export interface CallerInfo {
  publicKey: Buffer | null
  connectedAt: number
  calls: number
  inFlight: number
}

export interface CallContext {
  method: MethodName
  caller: CallerInfo
  /** The infer streams of the caller's connection. */
  streams: StreamTable
  /** 0 for a client's call, n for a call delegated n times. */
  hop: number
  traceId: string | undefined
  /** The caller's deadline (epoch ms), forwarded less the time spent when delegating. */
  deadline: number | undefined
  /** Present only when the caller asked for profiling. */
  profile: CallProfile | null
  /** The daemon's always-on operator metrics. */
  metrics: Profiler
  /** Sends a one-way event to the caller (dropped if its connection is gone). */
  notify<E extends EventName>(event: E, value: EventOf<E>): void
  /** Aborted when the caller's deadline passes or the daemon shuts down; reason is a QvacError. */
  signal: AbortSignal
}

export type Handler<M extends MethodName> = (
  body: RequestOf<M>,
  ctx: CallContext
) => Promise<ResponseOf<M>> | ResponseOf<M>

interface Route {
  request: ReturnType<typeof requestFrame<unknown>>
  frame: Encoding<ResponseFrame<unknown>>
  body: Encoding<unknown>
  handler: Handler<MethodName>
  latencyMetric: string
}

/**
 * The one door every request goes through. protomux-rpc rethrows native errors from handlers as
 * uncaught exceptions (safety-catch), so one malformed request would kill the daemon: here the
 * request is taken raw, decoded, handled and encoded inside one try, and whatever is thrown leaves
 * as a QvacError in the response value. Nothing reaches protomux-rpc's error path.
 */
export class RpcRouter {
  private readonly routes = new Map<MethodName, Route>()
  private readonly inFlight = new Set<InFlightCall>()
  private readonly stats = new Map<MethodName, { calls: number; errors: number }>()
  private readonly streamTables = new Set<StreamTable>()
  private readonly log: Logger
  private readonly exposeErrors: boolean
  private closing = false
  /** The daemon's key as events name it; set once the key is known. */
  localPeer = 'local'
  /** Always-on operator metrics (latency per method, TTFT, tokens/s) for `qvacd status`. */
  readonly metrics = new Profiler()

  constructor(opts: { log: Logger; exposeErrors?: boolean }) {
    this.log = opts.log
    this.exposeErrors = opts.exposeErrors ?? false
    this.metrics.enable({ mode: 'summary', includeServerBreakdown: true })
  }

  handle<M extends MethodName>(method: M, handler: Handler<M>): this {
    const codecs = methods[method]
    this.routes.set(method, {
      request: requestFrame<unknown>(codecs.request),
      frame: responseFrame<unknown>(codecs.response as Encoding<unknown>),
      body: codecs.response as Encoding<unknown>,
      latencyMetric: `${method}.totalServerMs`,
      handler: handler as unknown as Handler<MethodName>
    })
    this.stats.set(method, { calls: 0, errors: 0 })
    return this
  }

  /** Serves the registered methods on a channel (a handler replaced later applies here too). Call before the channel opens. */
  attach(rpc: ProtomuxRPC, caller: CallerInfo): void {
    const active = new Set<InFlightCall>()
    const streams = new StreamTable(rpc)
    this.streamTables.add(streams)
    for (const method of this.routes.keys()) {
      rpc.respond<Buffer, Buffer>(method, { requestEncoding: c.raw, responseEncoding: c.raw }, (raw) =>
        this.dispatch(method, raw, { caller, streams, active, rpc })
      )
    }
    // Nobody is left to answer: stop the work done for this caller.
    rpc.on('close', () => {
      this.streamTables.delete(streams)
      const reason = new QvacError('CONNECTION_LOST', 'the caller disconnected')
      for (const call of active) call.abort(reason)
    })
  }

  /** Every open infer stream, on every connection. */
  streams(): StreamStatus[] {
    const all: StreamStatus[] = []
    for (const table of this.streamTables) for (const stream of table.values()) all.push(stream.status())
    return all
  }

  get inFlightCount(): number {
    return this.inFlight.size
  }

  methodStats(): MethodStatus[] {
    return [...this.stats].map(([method, s]) => ({ method, calls: s.calls, errors: s.errors }))
  }

  /** Stops accepting calls and ends the ones in flight with DAEMON_SHUTTING_DOWN. */
  close(): void {
    this.closing = true
    const reason = new QvacError('DAEMON_SHUTTING_DOWN', 'the daemon is shutting down')
    for (const call of this.inFlight) call.abort(reason)
  }

  private async dispatch(
    method: MethodName,
    raw: Buffer,
    { caller, streams, active, rpc }: { caller: CallerInfo; streams: StreamTable; active: Set<InFlightCall>; rpc: ProtomuxRPC }
  ): Promise<Buffer> {
    const started = performance.now()
    const route = this.routes.get(method) as Route
    const stats = this.stats.get(method) as { calls: number; errors: number }
    stats.calls++
    caller.calls++
    caller.inFlight++
    const call = new InFlightCall()
    this.inFlight.add(call)
    active.add(call)
    let timer: NodeJS.Timeout | null = null
    let profile: CallProfile | null = null

    let body: Buffer | WireError | null = null
    let response: Buffer | null = null
    try {
      if (this.closing) throw new QvacError('DAEMON_SHUTTING_DOWN', 'the daemon is shutting down')
      let request: { header: RequestHeader; body: unknown }
      try {
        request = c.decode(route.request, raw)
      } catch (err) {
        throw new QvacError('INVALID_REQUEST', `malformed ${method} request: ${(err as Error).message}`, {
          details: { method, bytes: raw.byteLength }
        })
      }
      const { timeoutMs, hop = 0 } = request.header
      if (request.header.profiling) {
        // A caller over the swarm knows this daemon's key (its connection reached it); a local one does not.
        profile = new CallProfile(request.header.traceId, hop, this.localPeer, caller.publicKey === null)
        profile.started = started
        profile.decoded = performance.now()
      }
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => call.abort(new QvacError('REQUEST_TIMEOUT', `${method} exceeded the caller's ${timeoutMs} ms deadline`)),
          timeoutMs
        )
      }
      const ctx = new DispatchContext(method, caller, streams, call, rpc, hop, request.header.traceId, timeoutMs, profile, this.metrics)
      const work = call.run(route.handler(request.body as never, ctx))
      // A synchronous handler's value is used as it is: awaiting it would cost a turn of the microtask queue.
      const value = work instanceof Promise ? await work : work
      if (!profile) {
        // The common path: one encode of the whole frame, no breakdown to time.
        response = c.encode(route.frame, { ok: true, value }) as Buffer
      } else {
        profile.handled = performance.now()
        response = encodeProfiledResponse(route.body, value, profile)
      }
    } catch (err) {
      if (profile && profile.handled === 0) profile.handled = performance.now()
      stats.errors++
      if (!(err instanceof QvacError)) this.log.child(callFields(caller, method)).error('call failed unexpectedly', err)
      body = toWireError(err, this.exposeErrors)
    } finally {
      if (timer) clearTimeout(timer)
      this.inFlight.delete(call)
      active.delete(call)
      caller.inFlight--
    }
    // A profiled response took its time as it was encoded: the same instant ends the call here.
    const done = response !== null && profile !== null ? profile.finishedAt : performance.now()
    this.metrics.observe(route.latencyMetric, done - started)
    if (this.log.level === 'debug' || this.log.level === 'trace') {
      const error = body !== null && !Buffer.isBuffer(body) ? body.name : undefined
      this.log.child(callFields(caller, method)).debug('call', { ms: Number((done - started).toFixed(2)), error })
    }
    if (response) return response
    return encodeResponse(body as Buffer | WireError, profile?.envelope(done))
  }
}

/**
 * The CallContext a handler gets: a class, so a call creates one object and no closures (the
 * signal getter and notify live on the prototype).
 */
class DispatchContext implements CallContext {
  readonly deadline: number | undefined

  constructor(
    readonly method: MethodName,
    readonly caller: CallerInfo,
    readonly streams: StreamTable,
    private readonly call: InFlightCall,
    private readonly rpc: ProtomuxRPC,
    readonly hop: number,
    readonly traceId: string | undefined,
    timeoutMs: number | undefined,
    readonly profile: CallProfile | null,
    readonly metrics: Profiler
  ) {
    this.deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs
  }

  get signal(): AbortSignal {
    return this.call.signal
  }

  notify<E extends EventName>(event: E, value: EventOf<E>): void {
    notify(this.rpc, event, value)
  }
}

function notify<E extends EventName>(rpc: ProtomuxRPC, event: E, value: EventOf<E>): void {
  try {
    rpc.event(event, c.encode(events[event] as Encoding<EventOf<E>>, value), { requestEncoding: c.raw })
  } catch {
    // The channel closed: the call itself ends with CONNECTION_LOST.
  }
}

/**
 * What one profiled call collects on the daemon: the operation events its handler emits and the
 * breakdown of its time. Exists only when the caller asked for profiling. Its profile id is a
 * number until something asks for the text (an event of the handler's, an error's envelope): a
 * profiled response writes the text from the number.
 */
export class CallProfile implements EnvelopeSource, ServerBreakdown {
  readonly profileNumber: number
  readonly hop: number
  readonly peer: string
  /** Events of the call's work (the handler's, a provider's); the call's own `rpc` event goes in the envelope's compact form. */
  readonly events: OperationEvent[] = []
  queueMs = 0
  delegationBreakdown: DelegationBreakdown | undefined = undefined
  /** performance.now() when the call arrived, was decoded, its handler was done, and its response encoded (set by the router and finish()). */
  started = 0
  decoded = 0
  handled = 0
  finishedAt = 0
  /** The call's start (epoch ms) and its breakdown, set by finish(). */
  startedAt = 0
  decodeMs = 0
  handlerMs = 0
  encodeMs = 0
  totalServerMs = 0
  /** This daemon's key in the envelope, only where the caller cannot know it. */
  readonly sentPeer: string | undefined
  private readonly callerTrace: string | undefined
  private idText: string | null = null

  constructor(traceId: string | undefined, hop: number, peer: string, sendPeer = true) {
    this.profileNumber = nextId()
    this.callerTrace = traceId
    this.hop = hop
    this.peer = peer
    this.sentPeer = sendPeer ? peer : undefined
  }

  get profileId(): string {
    return (this.idText ??= idText(this.profileNumber))
  }

  /** The caller's trace, else the one this call starts: its profile id. */
  get traceId(): string {
    return this.callerTrace ?? this.profileId
  }

  /** Records an operation done here (hop and peer of this daemon). */
  emit(op: string, kind: OperationKind, fields: Pick<OperationEvent, 'ts' | 'ms' | 'bytes'> & Partial<Pick<OperationEvent, 'gauges' | 'tags'>>): void {
    // Field by field, one shape for every event: a spread of `fields` copies on a slow path.
    const event: OperationEvent = {
      op,
      kind,
      profileId: this.profileId,
      traceId: this.traceId,
      peer: this.peer,
      hop: this.hop,
      ts: fields.ts,
      ms: fields.ms,
      gauges: fields.gauges ?? {},
      tags: fields.tags ?? {}
    }
    if (fields.bytes !== undefined) event.bytes = fields.bytes
    this.events.push(event)
  }

  /** Ends the call at `done`: its breakdown is this profile's own fields (no object made per call). */
  finish(done: number): ServerBreakdown {
    this.finishedAt = done
    this.startedAt = epochMs(this.started)
    this.decodeMs = this.decoded - this.started
    this.handlerMs = Math.max(0, this.handled - this.decoded - this.queueMs)
    this.encodeMs = done - this.handled
    this.totalServerMs = done - this.started
    return this
  }

  /** The envelope as a whole (an error's response), the call ended at `done`. */
  envelope(done: number): WireProfiling {
    const { decodeMs, queueMs, handlerMs, encodeMs, totalServerMs } = this.finish(done)
    return {
      serverBreakdown: { decodeMs, queueMs, handlerMs, encodeMs, totalServerMs },
      events: this.events,
      delegationBreakdown: this.delegationBreakdown,
      call: { profileId: this.profileId, ts: this.startedAt, peer: this.sentPeer }
    }
  }
}

/**
 * One call in flight. Its AbortSignal is made only when a handler asks for it (most unary calls
 * never do), and an abort ends the call at once even if its handler ignores the signal.
 */
class InFlightCall {
  private controller: AbortController | null = null
  private reason: unknown = undefined
  private onabort: ((reason: unknown) => void) | null = null

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.reason !== undefined) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  abort(reason: unknown): void {
    if (this.reason !== undefined) return
    this.reason = reason
    this.controller?.abort(reason)
    this.onabort?.(reason)
  }

  /** The handler's result, or a rejection with the abort reason as soon as the call is aborted. */
  run<T>(work: T | Promise<T>): T | Promise<T> {
    if (!(work instanceof Promise)) return work
    if (this.reason !== undefined) return Promise.reject(this.reason)
    return new Promise<T>((resolve, reject) => {
      this.onabort = reject
      work.then(resolve, reject)
    })
  }
}

/** The fields of a call's child logger: who called (key, or `local` on the control socket) and what. */
function callFields(caller: CallerInfo, method: string): { peer: string; method: string } {
  return { peer: caller.publicKey ? formatKey(caller.publicKey) : 'local', method }
}
