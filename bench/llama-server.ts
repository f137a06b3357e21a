import { execFile } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { spawnChild, stopChild } from './children.ts'
import type { BenchContext } from './context.ts'
import type { ScenarioRecorder } from './report.ts'
import { StreamTimer, type StreamSample } from './stream-sample.ts'

const run = promisify(execFile)
// Resolved as Node resolves it (its entry is dist/index.js), so it is found when qvacd is a dependency too.
const NODE_LLAMA_CPP = path.join(path.dirname(fileURLToPath(import.meta.resolve('node-llama-cpp'))), '..')

/** The llama.cpp source node-llama-cpp ships, so llama-server is the same version as our backend. */
function sourceBundle(): { bundle: string; version: string } {
  const version = (JSON.parse(fs.readFileSync(path.join(NODE_LLAMA_CPP, 'package.json'), 'utf8')) as { version: string }).version
  return { bundle: path.join(NODE_LLAMA_CPP, 'llama', 'gitRelease.bundle'), version }
}

export function llamaServerDir(cacheDir: string): string {
  return path.join(cacheDir, 'llama-server', sourceBundle().version)
}

/** The built binary, or null. */
export function findLlamaServer(cacheDir: string): string | null {
  const bin = path.join(llamaServerDir(cacheDir), 'build', 'bin', 'llama-server')
  return fs.existsSync(bin) ? bin : null
}

/** Why llama-server cannot be built here, or null when the tools are there. */
export async function missingBuildTools(): Promise<string | null> {
  const missing: string[] = []
  for (const tool of ['git', 'cmake', 'ninja', 'c++']) {
    try {
      await run(tool, ['--version'])
    } catch {
      missing.push(tool)
    }
  }
  return missing.length > 0 ? `no ${missing.join(', ')} on PATH` : null
}

/**
 * Builds llama-server once from node-llama-cpp's bundled llama.cpp source (STACK.md; ~6 min on
 * 2 cores), CPU only, no network. Logs go to build.log beside the build.
 */
export async function buildLlamaServer(cacheDir: string, progress: (line: string) => void): Promise<string> {
  const dir = llamaServerDir(cacheDir)
  const src = path.join(dir, 'src')
  const build = path.join(dir, 'build')
  const { bundle } = sourceBundle()
  fs.mkdirSync(dir, { recursive: true })
  const log = path.join(dir, 'build.log')
  const step = async (what: string, cmd: string, args: string[], cwd: string) => {
    progress(`llama-server: ${what} (log: ${log})`)
    const { stdout, stderr } = await run(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 })
    fs.appendFileSync(log, stdout + stderr)
  }
  if (!fs.existsSync(src)) await step('cloning the bundled llama.cpp source', 'git', ['clone', '--quiet', bundle, src], dir)
  await step('configuring', 'cmake', ['-S', src, '-B', build, '-G', 'Ninja', '-DCMAKE_BUILD_TYPE=Release', '-DLLAMA_CURL=OFF', '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF', '-DGGML_NATIVE=ON'], src)
  await step('building (about 6 minutes on 2 cores)', 'cmake', ['--build', build, '--target', 'llama-server', '-j', String(os.availableParallelism())], src)
  const bin = findLlamaServer(cacheDir)
  if (!bin) throw new Error(`the build finished but ${build}/bin/llama-server is missing; see ${log}`)
  return bin
}

/** The llama-server binary, built first in full mode; null (and recorded as unavailable) when there is none. */
export async function llamaServerPeer(ctx: BenchContext, rec: ScenarioRecorder): Promise<string | null> {
  const bin = findLlamaServer(ctx.cacheDir)
  if (bin) return bin
  const missing = await missingBuildTools()
  if (missing) {
    rec.unavailableFor('llama-server peer', `it is not built and cannot be: ${missing}`)
    return null
  }
  if (!ctx.settings.buildLlamaServer) {
    rec.unavailableFor('llama-server peer', 'not built yet and quick mode does not build it: run `qvacd bench --full llama-server` once (about 6 minutes on 2 cores)')
    return null
  }
  return buildLlamaServer(ctx.cacheDir, ctx.progress)
}

export interface LlamaServer {
  port: number
  child: ChildProcess
  stop(): Promise<void>
}

/**
 * llama-server on 127.0.0.1 with the given threads, ready once /health says so. `parallel` slots
 * (`-np`, continuous batching) each get `contextSize`, as each of the daemon's sequences does.
 */
export async function startLlamaServer(bin: string, modelPath: string, opts: { threads: number; contextSize: number; parallel?: number }): Promise<LlamaServer> {
  const port = await freePort()
  const parallel = opts.parallel ?? 1
  const child = spawnChild(bin, [
    '-m', modelPath, '--host', '127.0.0.1', '--port', String(port),
    '-t', String(opts.threads), '-tb', String(opts.threads), '-c', String(opts.contextSize * parallel), '-np', String(parallel), '--no-webui'
  ])
  let stderr = ''
  child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)))
  const deadline = Date.now() + 60_000
  while (true) {
    if (child.exitCode !== null) throw new Error(`llama-server exited with ${child.exitCode}: ${stderr.trim()}`)
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`)
      if (res.ok) break
    } catch {}
    if (Date.now() > deadline) {
      await stopChild(child)
      throw new Error(`llama-server was not healthy within 60 s: ${stderr.trim()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { port, child, stop: () => stopChild(child) }
}

/** One greedy completion streamed over SSE, timed at the reader: one token per event. */
export async function llamaServerStream(port: number, prompt: string, maxTokens: number): Promise<StreamSample> {
  const timer = new StreamTimer()
  const res = await fetch(`http://127.0.0.1:${port}/completion`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, n_predict: maxTokens, temperature: 0, stream: true, cache_prompt: true })
  })
  if (!res.ok || !res.body) throw new Error(`llama-server answered ${res.status}`)
  const decoder = new TextDecoder()
  let buffered = ''
  for await (const bytes of res.body) {
    buffered += decoder.decode(bytes, { stream: true })
    let end
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const event = buffered.slice(0, end)
      buffered = buffered.slice(end + 2)
      if (!event.startsWith('data: ')) continue
      const data = JSON.parse(event.slice(6)) as { stop?: boolean }
      if (!data.stop) timer.chunk(1)
    }
  }
  return timer.finish()
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}
