import type { Handler } from '../rpc/router.ts'
import type { MethodStatus, ModelStatus, StreamStatus } from '../../shared/messages.ts'
import { Histogram, labelText } from './histogram.ts'

/** What the gauges read, live. */
export interface GaugeSource {
  methods(): MethodStatus[]
  models(): ModelStatus[]
  streams(): StreamStatus[]
}

// Bucket bounds as the OpenTelemetry GenAI semantic conventions advise (seconds; tokens),
// with finer low buckets: a small model on a CPU answers in milliseconds.
const TTFT_BOUNDS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
const TPOT_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5]
const DURATION_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
const TOKEN_BOUNDS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]

/**
 * The daemon's Prometheus metrics beyond the latency summaries: counters (calls and errors per
 * method, tokens in and out, bytes downloaded), gauges (open and queued streams, busy sequences,
 * loaded models) and the OpenTelemetry GenAI server histograms, labelled by model.
 */
export class ServerMetrics {
  private readonly source: GaugeSource
  private readonly tokens = new Map<string, { input: number; output: number }>()
  private downloadedBytes = 0
  private readonly ttft = new Histogram({ name: 'gen_ai_server_time_to_first_token_seconds', help: 'Time to generate the first token (gen_ai.server.time_to_first_token).', unit: 'seconds', bounds: TTFT_BOUNDS })
  private readonly tpot = new Histogram({ name: 'gen_ai_server_time_per_output_token_seconds', help: 'Time per output token after the first (gen_ai.server.time_per_output_token).', unit: 'seconds', bounds: TPOT_BOUNDS })
  private readonly duration = new Histogram({ name: 'gen_ai_server_request_duration_seconds', help: 'Duration of a generation request (gen_ai.server.request.duration).', unit: 'seconds', bounds: DURATION_BOUNDS })
  private readonly usage = new Histogram({ name: 'gen_ai_server_token_usage', help: 'Tokens per request by gen_ai_token_type (as gen_ai.client.token.usage, measured by the server).', bounds: TOKEN_BOUNDS })

  constructor(source: GaugeSource) {
    this.source = source
  }

  /** The infer handler, measured: its trailer feeds the histograms and token counters. */
  meterInfer(handler: Handler<'infer'>): Handler<'infer'> {
    return async (request, ctx) => {
      const trailer = await handler(request, ctx)
      const model = this.modelLabel(request.modelId)
      const s = trailer.stats
      const labels = { gen_ai_request_model: model, gen_ai_operation_name: request.messages ? 'chat' : 'text_completion' }
      this.duration.observe(s.totalTime / 1000, { ...labels, ...(trailer.error ? { error_type: trailer.error.name } : {}) })
      if (s.generatedTokens > 0 && s.timeToFirstToken > 0) this.ttft.observe(s.timeToFirstToken / 1000, labels)
      if (s.generatedTokens > 1 && s.tokensPerSecond > 0) this.tpot.observe(1 / s.tokensPerSecond, labels)
      this.usage.observe(s.promptTokens, { ...labels, gen_ai_token_type: 'input' })
      this.usage.observe(s.generatedTokens, { ...labels, gen_ai_token_type: 'output' })
      const counts = this.tokens.get(model) ?? { input: 0, output: 0 }
      counts.input += s.promptTokens
      counts.output += s.generatedTokens
      this.tokens.set(model, counts)
      return trailer
    }
  }

  /** A handler whose response carries download stats: its bytes count as downloaded. */
  meterDownloads<M extends 'loadModel' | 'downloadAsset'>(handler: Handler<M>): Handler<M> {
    return async (request, ctx) => {
      const response = await handler(request, ctx)
      this.downloadedBytes += (response as { stats: { totalBytesDownloaded: number } }).stats.totalBytesDownloaded
      return response
    }
  }

  /** Counters, gauges and histograms in OpenMetrics text, without the closing `# EOF`. */
  lines(): string[] {
    const out: string[] = []
    const methods = this.source.methods()
    counter(out, 'qvacd_calls', 'RPC calls answered, by method.', methods.map((m) => [{ method: m.method }, m.calls]))
    counter(out, 'qvacd_call_errors', 'RPC calls answered with an error, by method.', methods.map((m) => [{ method: m.method }, m.errors]))
    counter(out, 'qvacd_tokens', 'Tokens read (input) and generated (output), by model.', [...this.tokens].flatMap(([model, c]) => [
      [{ gen_ai_request_model: model, gen_ai_token_type: 'input' }, c.input],
      [{ gen_ai_request_model: model, gen_ai_token_type: 'output' }, c.output]
    ]))
    counter(out, 'qvacd_downloaded', 'Model bytes fetched from sources (cache hits excluded).', [[{}, this.downloadedBytes]], 'bytes')

    const models = this.source.models()
    const streams = this.source.streams()
    gauge(out, 'qvacd_open_streams', 'Infer streams open.', [[{}, streams.length]])
    gauge(out, 'qvacd_queued_streams', 'Streams waiting for a free sequence, by model.', models.map((m) => [{ gen_ai_request_model: m.source }, m.queuedStreams]))
    gauge(out, 'qvacd_busy_sequences', 'Context sequences generating, by model.', models.map((m) => [{ gen_ai_request_model: m.source }, m.activeStreams]))
    gauge(out, 'qvacd_sequences', 'Context sequences, by model.', models.map((m) => [{ gen_ai_request_model: m.source }, m.sequences]))
    gauge(out, 'qvacd_loaded_models', 'Models loaded.', [[{}, models.length]])

    for (const h of [this.ttft, this.tpot, this.duration, this.usage]) out.push(...h.lines())
    return out
  }

  /** Models are labelled by source: ids differ between daemons, sources do not. */
  private modelLabel(modelId: string): string {
    return this.source.models().find((m) => m.modelId === modelId)?.source ?? modelId
  }
}

function counter(out: string[], name: string, help: string, samples: [Record<string, string>, number][], unit = ''): void {
  const family = unit ? `${name}_${unit}` : name
  out.push(`# HELP ${family} ${help}`, `# TYPE ${family} counter`)
  if (unit) out.push(`# UNIT ${family} ${unit}`)
  for (const [labels, value] of samples) out.push(`${family}_total${labelText(labels)} ${value}`)
}

function gauge(out: string[], name: string, help: string, samples: [Record<string, string>, number][]): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`)
  for (const [labels, value] of samples) out.push(`${name}${labelText(labels)} ${value}`)
}
