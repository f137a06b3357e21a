import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp'
import type { Logger } from '../log.ts'

/**
 * The rule from the `threads` scenario (README, BENCHMARKS.md): the local OpenMP build gains from
 * every core on a model where compute dominates, so it gets all of them; the prebuilt binary's
 * spinning barrier ran 1.6–4.5× slower with all cores busy, so it leaves one core to Node.
 */
export function defaultThreads(): number {
  const cores = os.availableParallelism()
  return localBuildPresent() ? cores : Math.max(1, cores - 1)
}

/** Written by scripts/build-backend.mjs (npm install, `qvacd backend build`): why a local build is there or not. */
export function buildOutcomeFile(): string {
  return process.env.QVACD_BACKEND_OUTCOME || path.join(import.meta.dirname, '..', '..', 'node_modules', '.cache', 'qvacd', 'backend-build.json')
}

interface BuildOutcome {
  status: 'built' | 'present' | 'skipped' | 'no-compiler' | 'failed'
  reason?: string
}

function buildOutcome(): BuildOutcome | null {
  try {
    return JSON.parse(fs.readFileSync(buildOutcomeFile(), 'utf8')) as BuildOutcome
  } catch {
    return null
  }
}

function localBuildPresent(): boolean {
  const builds = path.join(path.resolve(fileURLToPath(import.meta.resolve('node-llama-cpp')), '..', '..'), 'llama', 'localBuilds')
  try {
    return fs.readdirSync(builds).some((d) => fs.existsSync(path.join(builds, d, 'Release', 'llama-addon.node')))
  } catch {
    return false
  }
}

/** Which llama.cpp binary runs: `local build, OpenMP` or `prebuilt, no OpenMP` (ggml's barrier then spins). */
export function describeBuild(llama: Llama): string {
  let build = builds.get(llama)
  if (build === undefined) {
    const openmp = /OPENMP = 1/.test(llama.systemInfo)
    builds.set(llama, (build = `${llama.buildType === 'localBuild' ? 'local build' : 'prebuilt'}, ${openmp ? 'OpenMP' : 'no OpenMP'}`))
  }
  return build
}

const builds = new WeakMap<Llama, string>()

/**
 * The node-llama-cpp runtime, created on first use (it takes about a second) and shared by every
 * model of the daemon. Never builds or downloads anything: node-llama-cpp picks the local OpenMP
 * build that `npm install` made (scripts/build-backend.mjs) and otherwise its prebuilt binary.
 */
export class LlamaBackend {
  private readonly log: Logger
  private readonly gpu: 'auto' | false
  private llama: Promise<Llama> | null = null
  private build: string | null = null

  constructor(opts: { log: Logger; gpu?: 'auto' | false }) {
    this.log = opts.log
    this.gpu = opts.gpu ?? 'auto'
  }

  get(): Promise<Llama> {
    if (!this.llama) {
      this.llama = getLlama({
        gpu: this.gpu,
        build: 'never',
        logLevel: this.log.level === 'debug' || this.log.level === 'trace' ? LlamaLogLevel.info : LlamaLogLevel.warn,
        // llama.cpp's own warnings and errors at their level; its chatter only at debug.
        logger: (level, message) => {
          const text = `llama.cpp: ${message.trim()}`
          if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) this.log.error(text)
          else if (level === LlamaLogLevel.warn) this.log.warn(text)
          else this.log.debug(text)
        }
      })
      this.llama.then(
        (llama) => {
          this.build = describeBuild(llama)
          this.log.info(`inference backend: ${this.build}`)
        },
        () => {
          this.llama = null
        }
      )
    }
    return this.llama
  }

  /** For `qvacd status`: the build in use, or before the first load the one that will be, and why. */
  status(): string {
    const outcome = buildOutcome()
    const why = outcome?.reason && outcome.status !== 'built' && outcome.status !== 'present' ? ` (${outcome.reason})` : ''
    if (this.build) return this.build.startsWith('prebuilt') ? `${this.build}${why}` : this.build
    const local = outcome?.status === 'built' || outcome?.status === 'present' || localBuildPresent()
    return `not started; ${local ? 'local OpenMP build present' : `prebuilt will serve${why}`}`
  }

  async close(): Promise<void> {
    const llama = this.llama
    this.llama = null
    this.build = null
    if (llama) await llama.then((l) => l.dispose(), () => {})
  }
}
