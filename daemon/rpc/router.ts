import crypto from 'node:crypto'
import c, { type Encoding } from 'compact-encoding'
import type ProtomuxRPC from 'protomux-rpc'
import { QvacError, toWireError, type WireError } from '../../shared/errors.ts'
import {
  encodeResponse,
  methods,
  requestFrame,
  type ProfilingEnvelope,
  type RequestHeader,
  type MethodName,
  type MethodStatus,
  type StreamStatus,
  type RequestOf,
  type ResponseOf
} from '../../shared/messages.ts'
import type { Logger } from '../log.ts'
import type { DelegationBreakdown, OperationEvent, OperationKind } from '../../shared/profiler/types.ts'
import { Profiler } from '../../shared/profiler/profiler.ts'
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
  /** Aborted when the caller's deadline passes or the daemon shuts down; reason is a QvacError. */
  signal: AbortSignal
}

export type Handler<M extends MethodName> = (
  body: RequestOf<M>,
  ctx: CallContext
) => Promise<ResponseOf<M>> | ResponseOf<M>

interface Route {
  request: ReturnType<typeof requestFrame<unknown>>
  body: Encoding<unknown>
  handler: Handler<MethodName>
}

/**
 * The one door every request goes through. protomux-rpc rethrows native errors from handlers as
 * uncaught exceptions (safety-catch), so one malformed request would kill the daemon: here the
 * request is taken raw, decoded, handled and encoded inside one try, and whatever is thrown leaves
 * as a QvacError in the response value. Nothing reaches protomux-rpc's error path.
 */
export class RpcRouter {
  private readonly routes = new Map<MethodName, Route>()
  private readonly inFlight = new Set<AbortController>()
  private readonly stats = new Map<MethodName, { calls: number; errors: number }>()
  private readonly streamTables = new Set<StreamTable>()
  private readonly log: Logger
  private readonly debug: boolean
  private closing = false
  /** The daemon's key as events name it; set once the key is known. */
  localPeer = 'local'
  /** Always-on operator metrics (latency per method, TTFT, tokens/s) for `qvacd status`. */
  readonly metrics = new Profiler()

  constructor(opts: { log: Logger; debug?: boolean }) {
    this.log = opts.log
    this.debug = opts.debug ?? false
    this.metrics.enable({ mode: 'summary', includeServerBreakdown: true })
  }

  handle<M extends MethodName>(method: M, handler: Handler<M>): this {
    const codecs = methods[method]
    this.routes.set(method, {
      request: requestFrame<unknown>(codecs.request),
      body: codecs.response as Encoding<unknown>,
      handler: handler as unknown as Handler<MethodName>
    })
    this.stats.set(method, { calls: 0, errors: 0 })
    return this
  }

  /** Serves the registered methods on a channel (a handler replaced later applies here too). Call before the channel opens. */
  attach(rpc: ProtomuxRPC, caller: CallerInfo): void {
    const active = new Set<AbortController>()
    const streams = new StreamTable(rpc)
    this.streamTables.add(streams)
    for (const method of this.routes.keys()) {
      rpc.respond<Buffer, Buffer>(method, { requestEncoding: c.raw, responseEncoding: c.raw }, (raw) =>
        this.dispatch(method, raw, { caller, streams, active })
      )
    }
    // Nobody is left to answer: stop the work done for this caller.
    rpc.on('close', () => {
      this.streamTables.delete(streams)
      const reason = new QvacError('CONNECTION_LOST', 'the caller disconnected')
      for (const controller of active) controller.abort(reason)
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
    for (const controller of this.inFlight) controller.abort(reason)
  }

  private async dispatch(
    method: MethodName,
    raw: Buffer,
    { caller, streams, active }: { caller: CallerInfo; streams: StreamTable; active: Set<AbortController> }
  ): Promise<Buffer> {
    const started = performance.now()
    const route = this.routes.get(method) as Route
    const stats = this.stats.get(method) as { calls: number; errors: number }
    stats.calls++
    caller.calls++
    caller.inFlight++
    const controller = new AbortController()
    this.inFlight.add(controller)
    active.add(controller)
    let timer: NodeJS.Timeout | null = null
    let profile: CallProfile | null = null
    let decoded = started
    let handled = started

    let body: Buffer | WireError
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
      decoded = performance.now()
      const { timeoutMs, hop = 0 } = request.header
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => controller.abort(new QvacError('REQUEST_TIMEOUT', `${method} exceeded the caller's ${timeoutMs} ms deadline`)),
          timeoutMs
        )
      }
      if (request.header.profiling) profile = new CallProfile(method, request.header.traceId, hop, this.localPeer)
      const ctx: CallContext = {
        method,
        caller,
        streams,
        signal: controller.signal,
        hop,
        traceId: request.header.traceId,
        deadline: timeoutMs === undefined ? undefined : Date.now() + timeoutMs,
        profile,
        metrics: this.metrics
      }
      const value = await untilAborted(route.handler(request.body as never, ctx), controller.signal)
      handled = performance.now()
      body = c.encode(route.body, value)
    } catch (err) {
      if (handled === started) handled = performance.now()
      stats.errors++
      if (!(err instanceof QvacError)) this.log.error(`${method} failed unexpectedly`, err)
      body = toWireError(err, this.debug)
    } finally {
      if (timer) clearTimeout(timer)
      this.inFlight.delete(controller)
      active.delete(controller)
      caller.inFlight--
    }
    const done = performance.now()
    this.metrics.observe(`${method}.totalServerMs`, done - started)
    if (!profile) return encodeResponse(body)
    return encodeResponse(body, profile.envelope(started, decoded, handled, done))
  }
}

/**
 * What one profiled call collects on the daemon: the operation events its handler emits and the
 * breakdown of its time. Exists only when the caller asked for profiling.
 */
export class CallProfile {
  readonly method: string
  readonly traceId: string
  readonly profileId: string
  readonly hop: number
  readonly peer: string
  readonly events: OperationEvent[] = []
  queueMs = 0
  delegationBreakdown: DelegationBreakdown | undefined = undefined

  constructor(method: string, traceId: string | undefined, hop: number, peer: string) {
    this.method = method
    this.traceId = traceId ?? crypto.randomBytes(8).toString('hex')
    this.profileId = crypto.randomBytes(8).toString('hex')
    this.hop = hop
    this.peer = peer
  }

  /** Records an operation done here (hop and peer of this daemon). */
  emit(op: string, kind: OperationKind, fields: Pick<OperationEvent, 'ts' | 'ms'> & Partial<OperationEvent>): void {
    this.events.push({
      op,
      kind,
      profileId: this.profileId,
      traceId: this.traceId,
      peer: this.peer,
      hop: this.hop,
      gauges: {},
      tags: {},
      ...fields
    })
  }

  envelope(started: number, decoded: number, handled: number, done: number): ProfilingEnvelope {
    const handlerMs = Math.max(0, handled - decoded - this.queueMs)
    const totalServerMs = done - started
    this.emit(this.method, 'rpc', { ts: Date.now() - totalServerMs, ms: totalServerMs })
    return {
      serverBreakdown: {
        decodeMs: decoded - started,
        queueMs: this.queueMs,
        handlerMs,
        encodeMs: done - handled,
        totalServerMs
      },
      events: this.events,
      delegationBreakdown: this.delegationBreakdown
    }
  }
}

/** A handler that ignores its signal still ends when the call is aborted. */
function untilAborted<T>(work: Promise<T> | T, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onabort = () => reject(signal.reason)
    signal.addEventListener('abort', onabort, { once: true })
    Promise.resolve(work).then(
      (value) => {
        signal.removeEventListener('abort', onabort)
        resolve(value)
      },
      (err) => {
        signal.removeEventListener('abort', onabort)
        reject(err)
      }
    )
  })
}
