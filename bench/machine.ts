import { execFileSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import type { Llama } from 'node-llama-cpp'
import { defaultThreads } from '../daemon/inference/backend.ts'

export interface MachineInfo {
  cpu: string
  cores: number
  memoryBytes: number
  platform: string
  node: string
  /** node-llama-cpp's backend: `prebuilt` (from npm) or `localBuild` (built from its source). */
  backendBuild: string
  backendVersion: string
  /** The daemon's default inference threads on this machine. */
  defaultThreads: number
  /** 1-minute load average when the bench started and ended: how quiet the machine was. */
  loadAverageStart: number
  loadAverageEnd?: number
}

export interface GitInfo {
  sha: string
  /** Uncommitted changes in the work tree when the bench ran. */
  dirty: boolean
}

const ROOT = path.join(import.meta.dirname, '..')

export function machineInfo(llama: Llama): MachineInfo {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    backendBuild: llama.buildType,
    backendVersion: llama.llamaCppRelease.release,
    defaultThreads: defaultThreads(),
    loadAverageStart: os.loadavg()[0]
  }
}

export function gitInfo(): GitInfo {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  try {
    return { sha: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain').length > 0 }
  } catch {
    return { sha: 'unknown', dirty: false }
  }
}
