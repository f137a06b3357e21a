import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import readline from 'node:readline'

const live = new Set<ChildProcess>()

let guarded = false

/**
 * A bench that dies or is interrupted still takes its daemons and servers with it. Installed on
 * the first spawn, not at import: `qvacd start` loads this module too and has its own SIGINT.
 */
function guardExit(): void {
  if (guarded) return
  guarded = true
  const killAll = () => {
    for (const child of live) child.kill('SIGKILL')
  }
  process.once('exit', killAll)
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      killAll()
      process.exit(code)
    })
  }
}

/** Spawns a process the bench owns: killed by `stopChild`, or at exit at the latest. */
export function spawnChild(command: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  guardExit()
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
  live.add(child)
  child.once('exit', () => live.delete(child))
  return child
}

export const TSX_ENTRY = ['--import', 'tsx']
export const QVACD_BIN = path.join(import.meta.dirname, '..', 'bin', 'qvacd.ts')

/** Node arguments for children under `QVACD_BENCH_CPU_PROF=DIR`: a CPU profile per child, for finding where time goes. */
export function profileArgs(): string[] {
  const dir = process.env.QVACD_BENCH_CPU_PROF
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : []
}

/** Resolves with the child's first stdout line; rejects with its stderr if it exits first. */
export async function firstLine(child: ChildProcess, what: string, timeoutMs = 60_000): Promise<string> {
  let stderr = ''
  child.stderr?.on('data', (d) => (stderr += d))
  const lines = readline.createInterface({ input: child.stdout! })
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      once(lines, 'line').then(([line]) => line as string),
      once(child, 'exit').then(([code]) => {
        throw new Error(`${what} exited with ${code} before it was ready: ${stderr.trim()}`)
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} was not ready within ${timeoutMs} ms: ${stderr.trim()}`)), timeoutMs)
      })
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}
