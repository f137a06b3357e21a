import type { InferTrailer } from '../../client/index.ts'
import { NOT_APPLICABLE, formatDuration } from './units.ts'

/**
 * `qvacd run --verbose`, after `ollama run --verbose`: counts, durations and rates of one answer,
 * then where its time went — queued, prompt eval, generation on the daemon, and the rest (network,
 * client) from the trailer's profiling envelope.
 */
export function verboseSummary(trailer: InferTrailer, clientMs: number): string {
  const s = trailer.stats
  const evalMs = s.tokensPerSecond > 0 && s.generatedTokens > 1 ? ((s.generatedTokens - 1) / s.tokensPerSecond) * 1000 : 0
  const promptRate = s.promptEvalTime > 0 ? `${((s.promptTokens / s.promptEvalTime) * 1000).toFixed(2)} tokens/s` : NOT_APPLICABLE
  const server = trailer.__profilingTrailer?.serverBreakdown.totalServerMs ?? s.totalTime
  const line = (label: string, value: string) => `${(label + ':').padEnd(22)}${value}`
  return [
    line('total duration', formatDuration(clientMs)),
    line('time to first token', s.generatedTokens > 0 ? formatDuration(s.timeToFirstToken) : NOT_APPLICABLE),
    line('prompt eval count', `${s.promptTokens} token(s)`),
    line('prompt eval duration', formatDuration(s.promptEvalTime)),
    line('prompt eval rate', promptRate),
    line('eval count', `${s.generatedTokens} token(s)`),
    line('eval duration', evalMs > 0 ? formatDuration(evalMs) : NOT_APPLICABLE),
    line('eval rate', s.tokensPerSecond > 0 ? `${s.tokensPerSecond.toFixed(2)} tokens/s` : NOT_APPLICABLE),
    line('stop reason', trailer.error ? `${trailer.stopReason} (${trailer.error.name})` : trailer.stopReason),
    line(
      'where the time went',
      `queued ${formatDuration(s.queueMs)}, prompt eval ${formatDuration(s.promptEvalTime)}, ` +
        `generation ${formatDuration(Math.max(0, s.totalTime - s.queueMs - s.promptEvalTime))}, ` +
        `network and client ${formatDuration(Math.max(0, clientMs - server))}`
    )
  ].join('\n')
}
