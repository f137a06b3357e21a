import crypto from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import Corestore from 'corestore'
import Hyperswarm from 'hyperswarm'
import { ModelResolver } from '../../daemon/resolve/resolver.ts'
import { createDht, parseBootstrap } from '../../client/dht.ts'
import type { BenchContext } from '../context.ts'
import type { ScenarioRecorder } from '../report.ts'
import { startSeedPeer } from '../seeder.ts'

/**
 * ModelResolver fetching one file, not cached (a fresh storage dir per round), from a Hyperdrive
 * and over HTTP, both served by another process; against a bare copy of the same file on disk.
 * Rounds interleave the three; the first round is a warm-up.
 */
export async function fetchScenario(ctx: BenchContext, rec: ScenarioRecorder): Promise<void> {
  const file = ctx.settings.fetchBytes > 0 ? randomFile(ctx.cacheDir, ctx.settings.fetchBytes) : ctx.model('large').path
  const size = fs.statSync(file).size
  const variant = `${(size / 1024 / 1024).toFixed(0)} MiB`
  ctx.progress(`fetch: ${variant}, ${ctx.settings.fetchRounds} rounds`)
  const seed = await startSeedPeer(ctx.bootstrap, file)
  const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'qvacd-bench-fetch-'))
  try {
    const sides: Record<string, (dir: string) => Promise<void>> = {
      'bare copy': (dir) => fsp.copyFile(file, path.join(dir, 'copy')),
      'hyperdrive resolve': (dir) => resolveOnce(ctx.bootstrap, dir, seed.uri, seed.sha256),
      'http resolve': (dir) => resolveOnce(ctx.bootstrap, dir, seed.httpUrl, seed.sha256)
    }
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(sides).map((side) => [side, []]))
    for (let round = 0; round <= ctx.settings.fetchRounds; round++) {
      for (const [side, run] of Object.entries(sides)) {
        const dir = await fsp.mkdtemp(path.join(scratch, 'round-'))
        const start = performance.now()
        try {
          await run(dir)
          if (round > 0) times[side].push(performance.now() - start)
        } catch (err) {
          // One failed fetch is a finding, not the end of the scenario: the other sides keep their figures.
          rec.unavailableFor(`${side}, round ${round}`, `failed after ${((performance.now() - start) / 1000).toFixed(1)} s: ${(err as Error).message}`)
        } finally {
          await fsp.rm(dir, { recursive: true, force: true })
        }
      }
    }
    const rate = (ms: number[]) => ms.map((t) => size / 1e6 / (t / 1000))
    const copy = rec.phase(variant, 'bare copy', 'throughput', 'MB/s', rate(times['bare copy']))
    for (const side of ['hyperdrive resolve', 'http resolve']) {
      rec.phase(variant, side, 'time', 'ms', times[side])
      const r = rec.phase(variant, side, 'throughput', 'MB/s', rate(times[side]))
      rec.ratio(variant, `${side} ÷ bare copy throughput (p50)`, r.p50, copy.p50)
    }
    rec.note('resolve includes opening a fresh store and swarm, joining, downloading, and the SHA-256 check')
  } finally {
    await seed.stop()
    await fsp.rm(scratch, { recursive: true, force: true })
  }
}

/** One not-cached resolve, as the daemon would do it: its own store and swarm in a fresh storage dir. */
async function resolveOnce(bootstrap: string, storage: string, source: string, sha256: string): Promise<void> {
  const store = new Corestore(path.join(storage, 'corestore'))
  await store.ready()
  const swarm = new Hyperswarm({ dht: createDht({ bootstrap: parseBootstrap(bootstrap) }) })
  swarm.on('connection', (conn) => store.replicate(conn))
  const resolver = new ModelResolver({ storage, store, swarm })
  try {
    await resolver.ready()
    await resolver.resolveModel(source, { expectedSha256: sha256 })
  } finally {
    await resolver.close()
    await swarm.destroy()
    await store.close()
  }
}

/** Random bytes, written once into the cache: incompressible, so no transport gets it cheaper. */
function randomFile(cacheDir: string, bytes: number): string {
  const file = path.join(cacheDir, 'bench-models', `random-${bytes}.bin`)
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(`${file}.tmp`, crypto.randomBytes(bytes))
    fs.renameSync(`${file}.tmp`, file)
  }
  return file
}
