import type { Llama } from 'node-llama-cpp'
import type { BenchModel, BenchModelName } from './models.ts'

/** Fixed iteration counts per mode: the same work every run, so runs compare. */
export interface BenchSettings {
  /** Round trips per side in the rpc scenario, the sides taking turns one round trip each. */
  rpcCalls: number
  /** Streams per side and model, after one warm-up stream per side. */
  streams: Record<BenchModelName, number>
  maxTokens: Record<BenchModelName, number>
  /** Models the stream-like scenarios run on. */
  models: BenchModelName[]
  /** Models of the threads sweep. */
  threadModels: BenchModelName[]
  coldStarts: number
  loadClients: number[]
  /** Models of the load scenario (qvacd and llama-server -np N side by side). */
  loadModels: BenchModelName[]
  loadRounds: number
  /** Bytes of the file the fetch scenario moves; 0: the large model file. */
  fetchBytes: number
  fetchRounds: number
  /** Build llama-server when it is missing (full mode); quick mode uses it only when already built. */
  buildLlamaServer: boolean
}

export const SETTINGS: Record<'quick' | 'full', BenchSettings> = {
  quick: {
    rpcCalls: 1000,
    streams: { tiny: 5, large: 3 },
    maxTokens: { tiny: 128, large: 32 },
    models: ['tiny', 'large'],
    threadModels: ['tiny', 'large'],
    coldStarts: 2,
    loadClients: [1, 4, 16, 32],
    loadModels: ['tiny'],
    loadRounds: 1,
    fetchBytes: 32 * 1024 * 1024,
    fetchRounds: 2,
    buildLlamaServer: false
  },
  full: {
    rpcCalls: 5000,
    streams: { tiny: 20, large: 16 },
    maxTokens: { tiny: 128, large: 64 },
    models: ['tiny', 'large'],
    threadModels: ['tiny', 'large'],
    coldStarts: 5,
    loadClients: [1, 4, 16, 32],
    loadModels: ['tiny', 'large'],
    loadRounds: 3,
    fetchBytes: 0,
    fetchRounds: 3,
    buildLlamaServer: true
  }
}

/** The same prompt on every side of every comparison. */
export const PROMPT = 'The quick brown fox jumps over the lazy dog. Once upon a time'

export interface BenchContext {
  mode: 'quick' | 'full'
  settings: BenchSettings
  /** The loopback DHT every process of the bench uses, as `host:port,…`. */
  bootstrap: string
  llama: Llama
  cores: number
  cacheDir: string
  model(name: BenchModelName): BenchModel
  /** Progress on stderr, so a long run shows it is alive and stdout stays the report. */
  progress(line: string): void
}
