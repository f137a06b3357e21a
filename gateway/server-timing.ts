import type { InferStats } from '../client/index.ts'

/**
 * The daemon's timings of one stream (from its trailer, which every stream has: no profiling
 * round needed) as a Server-Timing value: TTFT, queue and server time, and the gateway's own total.
 */
export function serverTiming(stats: InferStats, gatewayMs: number): string {
  const entry = (name: string, ms: number, desc: string) => `${name};dur=${ms.toFixed(2)};desc="${desc}"`
  return [
    entry('ttft', stats.timeToFirstToken, 'time to first token (daemon)'),
    entry('queue', stats.queueMs, 'wait for a free sequence'),
    entry('server', stats.totalTime, 'daemon total'),
    entry('gateway', gatewayMs, 'gateway total')
  ].join(', ')
}
