import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import readline from 'node:readline'
import type { Assertion } from 'brittle'

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'qvacd.ts')
const ROOT = path.join(import.meta.dirname, '..', '..')

function spawnQvacd(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Runs a qvacd command to its end (killed after `timeoutMs`). */
export async function runQvacd(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnQvacd(args)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d) => (stdout += d))
  child.stderr?.on('data', (d) => (stderr += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code] = await once(child, 'exit')
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** A running `qvacd start --json`: resolves with its startup line; killed at teardown if still alive. */
export async function startQvacd(
  t: Assertion,
  args: string[]
): Promise<{ child: ChildProcess; info: { publicKey: string; topic: string; storage: string; controlSocket: string; metrics: string | null }; stderr: () => string }> {
  const child = spawnQvacd(['start', '--json', ...args])
  let stderr = ''
  child.stderr?.on('data', (d) => (stderr += d))
  const exited = stopAtTeardown(t, child, 'SIGKILL')
  const lines = readline.createInterface({ input: child.stdout! })
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => line as string),
    exited.then(([code]) => {
      throw new Error(`qvacd start exited with ${code}: ${stderr}`)
    })
  ])
  return { child, info: JSON.parse(first), stderr: () => stderr }
}

/** A running `qvacd publish …` (without --no-seed): resolves once it says it is seeding; stopped at teardown. */
export async function startPublishing(t: Assertion, args: string[]): Promise<ChildProcess> {
  const child = spawnQvacd(args)
  const exited = stopAtTeardown(t, child, 'SIGTERM')
  let stderr = ''
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (d) => {
      stderr += d
      if (stderr.includes('seeding')) resolve()
    })
    exited.then(([code]) => reject(new Error(`qvacd ${args[0]} exited with ${code}: ${stderr}`)))
  })
  return child
}

/** Kills the child at teardown if it still runs; returns its exit. */
function stopAtTeardown(t: Assertion, child: ChildProcess, signal: NodeJS.Signals): Promise<unknown[]> {
  const exited = once(child, 'exit')
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal)
      await exited
    }
  })
  return exited
}
