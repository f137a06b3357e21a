import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import type { Assertion } from 'brittle'

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'qvacd.ts')
const TSX = path.join(import.meta.dirname, '..', '..', 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')

export interface Session {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves once stdout (or stderr) matches. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<void>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * A qvacd child in a working dir of the test's choosing, stdin piped (not a terminal); killed at
 * teardown. With `executable`, that program runs with `args` instead (e.g. script(1) giving qvacd a pseudo-terminal).
 */
export function qvacdSession(t: Assertion, args: string[], opts: { cwd?: string; executable?: string } = {}): Session {
  const argv = opts.executable ? args : ['--import', TSX, BIN, ...args]
  const child = spawn(opts.executable ?? process.execPath, argv, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  const waiters = new Set<() => void>()
  const wake = () => waiters.forEach((w) => w())
  child.stdout?.on('data', (d) => ((out += d), wake()))
  child.stderr?.on('data', (d) => ((err += d), wake()))
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, stream = 'stdout') {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(stream === 'stdout' ? out : err)) {
            waiters.delete(check)
            resolve()
          }
        }
        waiters.add(check)
        exited.then(() => {
          check()
          if (waiters.has(check)) reject(new Error(`qvacd exited before ${pattern} (stdout: ${out}, stderr: ${err})`))
        })
        check()
      })
    }
  }
}

/** Runs a qvacd command to its end in `cwd`, with `input` on its stdin. */
export async function runQvacdIn(
  t: Assertion,
  args: string[],
  opts: { cwd?: string; input?: string } = {}
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const session = qvacdSession(t, args, opts)
  session.child.stdin?.end(opts.input ?? '')
  const { code } = await session.exited
  return { code, stdout: session.stdout(), stderr: session.stderr() }
}
