import c from 'compact-encoding'
import type ProtomuxRPC from 'protomux-rpc'
import { QvacError, toWireError } from '../../shared/errors.ts'
import {
  methods,
  requestFrame,
  responseFrame,
  type MethodName,
  type MethodStatus,
  type StreamStatus,
  type RequestOf,
  type ResponseOf
} from '../../shared/messages.ts'
import type { Logger } from '../log.ts'
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
  /** Aborted when the caller's deadline passes or the daemon shuts down; reason is a QvacError. */
  signal: AbortSignal
}

export type Handler<M extends MethodName> = (
  body: RequestOf<M>,
  ctx: CallContext
) => Promise<ResponseOf<M>> | ResponseOf<M>

interface Route {
  request: ReturnType<typeof requestFrame<unknown>>
  response: ReturnType<typeof responseFrame<unknown>>
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

  constructor(opts: { log: Logger; debug?: boolean }) {
    this.log = opts.log
    this.debug = opts.debug ?? false
  }

  handle<M extends MethodName>(method: M, handler: Handler<M>): this {
    const codecs = methods[method]
    this.routes.set(method, {
      request: requestFrame<unknown>(codecs.request),
      response: responseFrame<unknown>(codecs.response),
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
    const route = this.routes.get(method) as Route
    const stats = this.stats.get(method) as { calls: number; errors: number }
    stats.calls++
    caller.calls++
    caller.inFlight++
    const controller = new AbortController()
    this.inFlight.add(controller)
    active.add(controller)
    let timer: NodeJS.Timeout | null = null

    try {
      if (this.closing) throw new QvacError('DAEMON_SHUTTING_DOWN', 'the daemon is shutting down')
      let request: { header: { timeoutMs?: number }; body: unknown }
      try {
        request = c.decode(route.request, raw)
      } catch (err) {
        throw new QvacError('INVALID_REQUEST', `malformed ${method} request: ${(err as Error).message}`, {
          details: { method, bytes: raw.byteLength }
        })
      }
      const { timeoutMs } = request.header
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => controller.abort(new QvacError('REQUEST_TIMEOUT', `${method} exceeded the caller's ${timeoutMs} ms deadline`)),
          timeoutMs
        )
      }
      const ctx: CallContext = { method, caller, streams, signal: controller.signal }
      const value = await untilAborted(route.handler(request.body as never, ctx), controller.signal)
      return c.encode(route.response, { ok: true, value })
    } catch (err) {
      stats.errors++
      if (!(err instanceof QvacError)) this.log.error(`${method} failed unexpectedly`, err)
      return c.encode(route.response, { ok: false, error: toWireError(err, this.debug) })
    } finally {
      if (timer) clearTimeout(timer)
      this.inFlight.delete(controller)
      active.delete(controller)
      caller.inFlight--
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
