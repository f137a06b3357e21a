import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { connect, type QvacClient } from '../client/index.ts'
import { firstLine, profileArgs, QVACD_BIN, spawnChild, stopChild, TSX_ENTRY } from './children.ts'
import { StreamTimer, type StreamSample } from './stream-sample.ts'
import { benchCacheDir, benchModelsDir } from './models.ts'

/**
 * The daemon's record of model-file hashes, kept between bench daemons as a user's daemon keeps it
 * in its storage: the bench measures a daemon that has announced its models' hashes before, not
 * the one-time hashing after a model's first load (a background read of the whole file).
 */
const HASH_RECORD = 'file-hashes.json'

export interface DaemonChild {
  child: ChildProcess
  publicKey: string
  storage: string
  /** From spawn to the daemon's startup line. */
  startMs: number
  stop(): Promise<void>
}

/**
 * `qvacd start` as its own process (never sharing the bench's JS thread), on the loopback DHT
 * given by `bootstrap`, with a throwaway storage dir.
 */
export async function startDaemonChild(bootstrap: string, opts: { threads?: number; maxSequences?: number } = {}): Promise<DaemonChild> {
  const storage = await fs.mkdtemp(path.join(os.tmpdir(), 'qvacd-bench-'))
  await fs.copyFile(path.join(benchCacheDir(), HASH_RECORD), path.join(storage, HASH_RECORD)).catch(() => {})
  // The bench loads its generated models by path, as a remote peer: their dir is the models dir.
  await fs.mkdir(benchModelsDir(), { recursive: true })
  const args = [...profileArgs(), ...TSX_ENTRY, QVACD_BIN, 'start', '--json', '--topic', 'qvacd-bench', '--storage', storage, '--bootstrap', bootstrap, '--models-dir', benchModelsDir()]
  if (opts.threads) args.push('--threads', String(opts.threads))
  if (opts.maxSequences) args.push('--max-sequences', String(opts.maxSequences))
  const started = performance.now()
  const child = spawnChild(process.execPath, args)
  try {
    const info = JSON.parse(await firstLine(child, 'qvacd start')) as { publicKey: string }
    return {
      child,
      publicKey: info.publicKey,
      storage,
      startMs: performance.now() - started,
      stop: async () => {
        await stopChild(child)
        await fs.copyFile(path.join(storage, HASH_RECORD), path.join(benchCacheDir(), HASH_RECORD)).catch(() => {})
        await fs.rm(storage, { recursive: true, force: true })
      }
    }
  } catch (err) {
    await stopChild(child)
    await fs.rm(storage, { recursive: true, force: true })
    throw err
  }
}

/** A client of that daemon, connected by key over the loopback DHT. */
export function connectToChild(daemon: DaemonChild, bootstrap: string): Promise<QvacClient> {
  return connect({ peer: daemon.publicKey, bootstrap })
}

/** One greedy stream over the swarm, timed at the reader. */
export async function swarmStream(client: QvacClient, modelId: string, prompt: string, maxTokens: number): Promise<StreamSample> {
  const timer = new StreamTimer()
  const stream = client.infer({ modelId, prompt, maxTokens, temperature: 0 })
  for await (const chunk of stream) timer.chunk(chunk.tokens.length)
  const trailer = await stream.trailer
  if (trailer.error) throw trailer.error
  return timer.finish()
}
