import http from 'node:http'
import ReadyResource from 'ready-resource'
import type { Profiler } from '../client/profiler/profiler.ts'
import type { ServerMetrics } from './metrics/server-metrics.ts'
import type net from 'node:net'
import { listen } from './listen.ts'

const CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

/**
 * Serves the daemon's operator metrics as OpenMetrics at /metrics on 127.0.0.1, for Prometheus:
 * the latency summaries, then counters, gauges and the GenAI histograms.
 * `ready()` listens (then `port` is the bound one, useful with port 0); `close()` stops (ready-resource).
 */
export class MetricsServer extends ReadyResource {
  private readonly server: http.Server
  port: number

  constructor(opts: { port: number; metrics: Profiler; server?: ServerMetrics }) {
    super()
    this.port = opts.port
    this.server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
        res.writeHead(404).end('not found: GET /metrics\n')
        return
      }
      const summaries = opts.metrics.exportOpenMetrics().replace(/# EOF\n$/, '')
      res.writeHead(200, { 'content-type': CONTENT_TYPE }).end(summaries + [...(opts.server?.lines() ?? []), '# EOF'].join('\n') + '\n')
    })
  }

  protected async _open(): Promise<void> {
    await listen(this.server, { port: this.port, host: '127.0.0.1' })
    this.port = (this.server.address() as net.AddressInfo).port
  }

  protected _close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}
