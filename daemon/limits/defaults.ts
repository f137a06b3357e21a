/**
 * What one daemon lets callers use, checked before any work. Defaults are what a single 2–8 core
 * host serves comfortably; `qvacd start --max-*` / `--peer-*` change them.
 */
export interface ResourceLimits {
  /** Largest context (tokens) a model may be loaded with; the default is min(trained, this). */
  maxContext: number
  /** Largest `sequences` (concurrent streams) one loaded model may have. */
  maxSequences: number
  /** Models loaded at once; every distinct source + config is one model. */
  maxModels: number
  /** Memory (bytes) all loaded models together may take, by node-llama-cpp's estimate; 0: no cap but free memory. */
  maxMemory: number
  /** Free memory (bytes) a load must leave on the host, by the same estimate. */
  memoryHeadroom: number
  /** Largest prompt (UTF-8 bytes of the prompt or of all messages) an infer request may carry. */
  maxPromptBytes: number
}

/** What one remote peer may use; the operator (control socket) is exempt. */
export interface PeerLimitOptions {
  /** Infer streams generating at once. */
  maxStreams: number
  /** Infer streams waiting behind those before QUEUE_FULL. */
  maxQueued: number
  /** loadModel and downloadAsset calls per rolling minute before RATE_LIMITED. */
  loadsPerMinute: number
  /** Bytes the daemon downloads for the peer per rolling hour before RATE_LIMITED. */
  downloadBytesPerHour: number
}

const MiB = 1024 * 1024
const GiB = 1024 * MiB

export const DEFAULT_RESOURCE_LIMITS: ResourceLimits = {
  maxContext: 8192,
  maxSequences: 16,
  maxModels: 4,
  maxMemory: 0,
  memoryHeadroom: 512 * MiB,
  maxPromptBytes: 1 * MiB
}

export const DEFAULT_PEER_LIMITS: PeerLimitOptions = {
  maxStreams: 4,
  maxQueued: 8,
  loadsPerMinute: 30,
  downloadBytesPerHour: 8 * GiB
}
