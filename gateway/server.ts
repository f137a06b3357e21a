import crypto from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { QvacClient } from '../client/index.ts'
import { newTraceId } from '../shared/profiler/ids.ts'
import { toOpenMetrics } from '../client/profiler/openmetrics.ts'
import { QvacError } from '../shared/errors.ts'
import { serveCompletion } from './completions.ts'
import { serveEmbeddings } from './embeddings.ts'
import { badRequest, HttpError, toHttpError } from './errors.ts'
import { ModelTable, type ModelSource } from './model-table.ts'
import { RouteContext, sendJson, type CompletionRecord } from './route-context.ts'

export interface GatewayOptions {
  /** How the gateway reaches daemons: a client over the swarm (topic or key) or the control socket. */
  client: QvacClient
  /** Names served from sources (`--model NAME=SOURCE`), loaded on first use. */
  models?: ModelSource[]
  /** Default 127.0.0.1. Anything else needs an apiKey. */
  host?: string
  /** Default 0: any free port (see `port` once listening). */
  port?: number
  /** Requests must carry `Authorization: Bearer <apiKey>` (all routes but /health). */
  apiKey?: string
  /** Deadline for each daemon call, ms, unless the request's `qvacd-timeout-ms` header says otherwise. */
  timeout?: number
}

const MAX_BODY_BYTES = 16 * 1024 * 1024
const TRACE_ID = /^[0-9a-f]{8,64}$/

type Route = (ctx: RouteContext, body: Record<string, unknown>) => Promise<void>

/**
 * The OpenAI-compatible HTTP gateway: node:http, one route table, every daemon error mapped once
 * (gateway/errors.ts). Events: `completion` (CompletionRecord) when a completion's stream ends.
 */
export class Gateway extends EventEmitter {
  readonly host: string
  port: number
  private readonly client: QvacClient
  private readonly models: ModelTable
  private readonly apiKeyDigest: Buffer | null
  private readonly timeout: number | undefined
  private readonly server: http.Server
  private readonly routes: Record<string, Route>

  constructor(opts: GatewayOptions) {
    super()
    this.host = opts.host ?? '127.0.0.1'
    this.port = opts.port ?? 0
    if (!isLoopback(this.host) && !opts.apiKey) {
      throw new QvacError('INVALID_ARGUMENT', `the gateway binds ${this.host}, beyond loopback: give it an API key`)
    }
    this.client = opts.client
    this.models = new ModelTable(opts.client, opts.models ?? [])
    this.apiKeyDigest = opts.apiKey ? digest(`Bearer ${opts.apiKey}`) : null
    this.timeout = opts.timeout
    // Nagle off: each token's frame leaves at once instead of waiting for the previous ACK.
    this.server = http.createServer({ noDelay: true }, (req, res) => void this.handle(req, res))
    this.routes = {
      'GET /health': (ctx) => this.health(ctx),
      'GET /metrics': (ctx) => this.metrics(ctx),
      'GET /v1/models': async (ctx) => ctx.json(200, { object: 'list', data: await this.models.list(ctx.timeout) }),
      'POST /v1/chat/completions': (ctx, body) => serveCompletion(ctx, 'chat', body),
      'POST /v1/completions': (ctx, body) => serveCompletion(ctx, 'text', body),
      'POST /v1/embeddings': (ctx, body) => serveEmbeddings(ctx, body)
    }
  }

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`
  }

  async listen(): Promise<void> {
    this.server.listen(this.port, this.host)
    await once(this.server, 'listening')
    this.port = (this.server.address() as AddressInfo).port
  }

  /** Stops listening and drops open connections (their daemon streams are cancelled). */
  async close(): Promise<void> {
    if (!this.server.listening) return
    const closed = once(this.server, 'close')
    this.server.close()
    this.server.closeAllConnections()
    await closed
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const asked = req.headers['qvacd-trace-id']
    const traceId = typeof asked === 'string' && TRACE_ID.test(asked) ? asked : newTraceId()
    try {
      const path = requestPath(req)
      const retrieve = req.method === 'GET' ? /^\/v1\/models\/(.+)$/.exec(path) : null
      const route: Route | undefined = retrieve
        ? (ctx) => this.retrieveModel(ctx, retrieve[1])
        : this.routes[`${req.method} ${path}`]
      if (!route) {
        const known = Object.keys(this.routes).some((r) => r.endsWith(` ${path}`))
        throw known
          ? new HttpError(405, `${req.method} is not allowed on ${path}`, { code: 'method_not_allowed' })
          : new HttpError(404, `no route ${req.method} ${path}`, { code: 'unknown_url' })
      }
      if (path !== '/health') this.authorize(req)
      const ctx = new RouteContext({
        client: this.client,
        models: this.models,
        res,
        traceId,
        timeout: requestTimeout(req) ?? this.timeout,
        oncompleted: (record: CompletionRecord) => this.emit('completion', record)
      })
      const body = req.method === 'POST' ? await readJson(req) : {}
      await route(ctx, body)
    } catch (err) {
      const error = toHttpError(err)
      if (res.headersSent) res.destroy()
      else sendJson(res, error.status, error.body(), { 'qvacd-trace-id': traceId, ...(error.status === 401 ? { 'www-authenticate': 'Bearer' } : {}) })
    }
  }

  private authorize(req: IncomingMessage): void {
    if (!this.apiKeyDigest) return
    const given = req.headers.authorization
    // Compared as digests: constant time whatever the length of what was sent.
    if (given === undefined || !crypto.timingSafeEqual(digest(given), this.apiKeyDigest)) {
      throw new HttpError(401, 'missing or wrong API key (Authorization: Bearer KEY)', { code: 'invalid_api_key' })
    }
  }

  private async health(ctx: RouteContext): Promise<void> {
    const ping = await this.client.ping({ timeout: ctx.timeout ?? 5000 })
    ctx.json(200, { status: 'ok', daemon: { version: ping.version } })
  }

  private async metrics(ctx: RouteContext): Promise<void> {
    const status = await this.client.status({ timeout: ctx.timeout })
    const text = toOpenMetrics(status.metrics)
    ctx.res.writeHead(200, { 'content-type': 'application/openmetrics-text; version=1.0.0; charset=utf-8', ...ctx.headers() })
    ctx.res.end(text)
  }

  private async retrieveModel(ctx: RouteContext, id: string): Promise<void> {
    const model = (await this.models.list(ctx.timeout)).find((m) => m.id === id)
    if (!model) throw new HttpError(404, `the model '${id}' does not exist`, { code: 'model_not_found', param: 'model' })
    ctx.json(200, model)
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  // Events rather than async iteration: the body is usually one chunk, and this is on every request's TTFT.
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data')
        req.resume() // drained, not kept: the 413 still gets through
        reject(new HttpError(413, `the request body is over ${MAX_BODY_BYTES} bytes`, { code: 'body_too_large' }))
      } else chunks.push(chunk)
    })
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)))
    req.once('error', reject)
  })
  let body: unknown
  try {
    body = JSON.parse(raw.toString('utf8'))
  } catch {
    throw badRequest('the body is not valid JSON')
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object')
  return body as Record<string, unknown>
}

/** The request's path, decoded; a malformed URL is a 400, never a thrown TypeError. */
function requestPath(req: IncomingMessage): string {
  try {
    return decodeURIComponent(new URL(req.url ?? '/', 'http://gateway').pathname)
  } catch {
    throw badRequest('malformed request URL')
  }
}

function requestTimeout(req: IncomingMessage): number | undefined {
  const header = req.headers['qvacd-timeout-ms']
  if (header === undefined) return undefined
  const ms = Number(header)
  if (!Number.isInteger(ms) || ms < 1) throw badRequest('qvacd-timeout-ms must be a positive integer')
  return ms
}

function digest(text: string): Buffer {
  return crypto.createHash('sha256').update(text).digest()
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}
