import type { ServerResponse } from 'node:http'
import type { InferTrailer, QvacClient } from '../client/index.ts'
import type { ModelTable } from './model-table.ts'

/** What the gateway reports when a completion ends: the stream's trailer, by trace id. */
export interface CompletionRecord {
  traceId: string
  model: string
  trailer: InferTrailer
}

/** One HTTP request as a route sees it: the daemon client, its deadline and trace, and the response. */
export class RouteContext {
  readonly client: QvacClient
  readonly models: ModelTable
  readonly res: ServerResponse
  readonly traceId: string
  /** ms the daemon call may take (the request's `qvacd-timeout-ms`, else the gateway's default). */
  readonly timeout: number | undefined
  /** Aborted when the client goes away before the response ended: the daemon call is cancelled. */
  readonly signal: AbortSignal
  private readonly started = performance.now()
  private readonly oncompleted: (record: CompletionRecord) => void

  constructor(opts: {
    client: QvacClient
    models: ModelTable
    res: ServerResponse
    traceId: string
    timeout: number | undefined
    oncompleted: (record: CompletionRecord) => void
  }) {
    this.client = opts.client
    this.models = opts.models
    this.res = opts.res
    this.traceId = opts.traceId
    this.timeout = opts.timeout
    this.oncompleted = opts.oncompleted
    const gone = new AbortController()
    this.signal = gone.signal
    this.res.once('close', () => {
      if (!this.res.writableFinished) gone.abort()
    })
  }

  headers(): Record<string, string> {
    return { 'qvacd-trace-id': this.traceId }
  }

  elapsed(): number {
    return performance.now() - this.started
  }

  json(status: number, body: unknown, headers: Record<string, string> = {}): void {
    sendJson(this.res, status, body, { ...this.headers(), ...headers })
  }

  completed(model: string, trailer: InferTrailer): void {
    this.oncompleted({ traceId: this.traceId, model, trailer })
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return
  const payload = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...headers })
  res.end(payload)
}
