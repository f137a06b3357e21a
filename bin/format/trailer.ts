import type { InferTrailer } from '../../client/index.ts'
import { plainTable } from './table.ts'
import { formatDuration } from './units.ts'

/** A stream's trailer as a short table: why it stopped and where the time went. */
export function trailerToTable(trailer: InferTrailer): string {
  const s = trailer.stats
  const table = plainTable()
  table.push(
    ['STOP REASON', trailer.error ? `${trailer.stopReason} (${trailer.error.name}: ${trailer.error.message})` : trailer.stopReason],
    ['TIME TO FIRST TOKEN', formatDuration(s.timeToFirstToken)],
    ['TOKENS PER SECOND', s.tokensPerSecond.toFixed(1)],
    ['PROMPT TOKENS', String(s.promptTokens)],
    ['GENERATED TOKENS', String(s.generatedTokens)],
    ['PROMPT EVAL', formatDuration(s.promptEvalTime)],
    ['QUEUED', formatDuration(s.queueMs)],
    ['TOTAL', formatDuration(s.totalTime)],
    ['FRAMES', String(trailer.frames)]
  )
  return table.toString().replace(/ +$/gm, '')
}
