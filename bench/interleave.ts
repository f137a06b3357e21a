import type { StreamSample } from './stream-sample.ts'

/** One warm-up run per side (not recorded), then `iterations` rounds taking the sides in turn. */
export async function interleave(sides: Record<string, () => Promise<StreamSample>>, iterations: number): Promise<Record<string, StreamSample[]>> {
  const samples: Record<string, StreamSample[]> = {}
  for (const [side, run] of Object.entries(sides)) {
    await run()
    samples[side] = []
  }
  for (let i = 0; i < iterations; i++) {
    for (const [side, run] of Object.entries(sides)) samples[side].push(await run())
  }
  return samples
}
