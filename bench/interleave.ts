import { setTimeout as sleep } from 'node:timers/promises'
import type { StreamSample } from './stream-sample.ts'

/**
 * Idle time before each run. After a stream, the OpenMP worker threads of whichever side ran it
 * (the daemon, llama-server, or node-llama-cpp in this process) keep spinning for up to ~4 ms
 * (measured: daemon CPU in 2 ms windows after a stream), and on 2 cores that spin slowed the next
 * side's run. Every side gets the same pause, so each run starts on a machine its rival has left.
 */
export const SETTLE_MS = 10

/** One warm-up run per side (not recorded), then `iterations` rounds taking the sides in turn. */
export async function interleave(sides: Record<string, () => Promise<StreamSample>>, iterations: number): Promise<Record<string, StreamSample[]>> {
  const samples: Record<string, StreamSample[]> = {}
  for (const [side, run] of Object.entries(sides)) {
    await run()
    samples[side] = []
  }
  for (let i = 0; i < iterations; i++) {
    for (const [side, run] of Object.entries(sides)) {
      await sleep(SETTLE_MS)
      samples[side].push(await run())
    }
  }
  return samples
}

/** Every order of `items` (3 sides: 6 orders, so each side runs first, second and last equally often). */
export function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}
