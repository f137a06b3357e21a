import type { ScenarioRecorder } from './report.ts'
import type { Summary } from './stats.ts'
import type { StreamSample } from './stream-sample.ts'

export interface StreamSummary {
  ttft: Summary
  itl: Summary
  tokensPerSecond: Summary
}

/** Records a side's streams as three phases: TTFT per stream, ITL per token, tokens/s per stream. */
export function recordStreams(rec: ScenarioRecorder, variant: string, side: string, samples: StreamSample[]): StreamSummary {
  return {
    ttft: rec.phase(variant, side, 'TTFT', 'ms', samples.map((s) => s.ttftMs)),
    itl: rec.phase(variant, side, 'ITL', 'ms', samples.flatMap((s) => s.itlMs)),
    tokensPerSecond: rec.phase(variant, side, 'tokens/s', 'tok/s', samples.map((s) => s.tokensPerSecond))
  }
}
