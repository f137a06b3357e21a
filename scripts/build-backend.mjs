#!/usr/bin/env node
// Builds node-llama-cpp's llama.cpp backend from the source it ships (offline, its gitRelease.bundle)
// with OpenMP and this CPU's own features, so ggml's threads sleep at barriers instead of spinning
// (BENCHMARKS.md). Run by `npm install` (the root project's postinstall) and by `qvacd backend build`.
// Never fails the install: without a compiler, or if the build fails, the prebuilt binary serves
// and the outcome file says why (`qvacd status` prints it).
import { execFileSync, spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(import.meta.dirname, '..')
// Where npm put node-llama-cpp (hoisted or not), as Node resolves it from here.
const nlc = path.resolve(fileURLToPath(import.meta.resolve('node-llama-cpp')), '..', '..')
const outcomeFile = process.env.QVACD_BACKEND_OUTCOME || path.join(root, 'node_modules', '.cache', 'qvacd', 'backend-build.json')
const force = process.argv.includes('--force')

function record(outcome) {
  fs.mkdirSync(path.dirname(outcomeFile), { recursive: true })
  fs.writeFileSync(outcomeFile, JSON.stringify({ ...outcome, at: new Date().toISOString() }, null, 2) + '\n')
  const line = outcome.status === 'built' || outcome.status === 'present'
    ? `qvacd: inference backend: local OpenMP build (${outcome.status === 'built' ? `built in ${outcome.minutes} min` : 'already built'}; context-thread patch: ${outcome.patch})`
    : `qvacd: inference backend: prebuilt (${outcome.reason})`
  console.log(line)
}

function missingTools() {
  const missing = []
  for (const [tool, args] of [['cmake', ['--version']], ['git', ['--version']], ['c++', ['--version']]]) {
    try {
      execFileSync(tool, args, { stdio: 'ignore' })
    } catch {
      missing.push(tool)
    }
  }
  return missing
}

// Our patch to node-llama-cpp's addon (patches/*.patch; see the file's header comment in
// AddonContext.h): applied to its sources before the build, so the local build carries it.
const patchFile = path.join(root, 'patches', 'node-llama-cpp-context-thread.patch')

// The patch as last applied to these sources, kept so that a newer patch can replace it.
const appliedCopy = path.join(path.dirname(outcomeFile), 'applied.patch')

function gitApply(args, file = patchFile) {
  // Outside any repository (ours contains node_modules): git apply then works like patch(1).
  execFileSync('git', ['apply', '-p1', ...args, file], {
    cwd: nlc,
    stdio: 'ignore',
    env: { ...process.env, GIT_CEILING_DIRECTORIES: path.dirname(nlc) }
  })
}

function applies(args, file) {
  try {
    gitApply(args, file)
    return true
  } catch {
    return false
  }
}

/**
 * 'applied <hash>' (now or before), or why not: node-llama-cpp's sources differ from what the
 * patch expects. An older version of our patch, applied by an earlier install, is reversed first;
 * the hash in the outcome then differs from the last build's, so the backend is rebuilt.
 */
function applyPatch() {
  if (!fs.existsSync(patchFile)) return 'no patch file'
  const applied = `applied ${crypto.createHash('sha256').update(fs.readFileSync(patchFile)).digest('hex').slice(0, 12)}`
  const keep = () => {
    fs.mkdirSync(path.dirname(appliedCopy), { recursive: true })
    fs.copyFileSync(patchFile, appliedCopy)
    return applied
  }
  if (applies(['--reverse', '--check'])) return keep()
  if (fs.existsSync(appliedCopy) && applies(['--reverse', '--check'], appliedCopy)) gitApply(['--reverse'], appliedCopy)
  if (applies([])) return keep()
  return `${path.basename(patchFile)} does not apply to this node-llama-cpp`
}

function previousOutcome() {
  try {
    return JSON.parse(fs.readFileSync(outcomeFile, 'utf8'))
  } catch {
    return null
  }
}

function localBuildPresent() {
  const builds = path.join(nlc, 'llama', 'localBuilds')
  if (!fs.existsSync(builds)) return false
  return fs.readdirSync(builds).some((d) => fs.existsSync(path.join(builds, d, 'Release', 'llama-addon.node')))
}

async function main() {
  if (!fs.existsSync(path.join(nlc, 'llama', 'gitRelease.bundle'))) {
    return record({ status: 'skipped', reason: 'node-llama-cpp ships no llama.cpp source bundle' })
  }
  if (/^(0|false|no|skip)$/i.test(process.env.QVACD_BACKEND_BUILD ?? '')) {
    return record({ status: 'skipped', reason: 'QVACD_BACKEND_BUILD=0' })
  }
  const missing = missingTools()
  const patch = missing.includes('git') ? 'no git to apply the patch' : applyPatch()
  // A build from before the patch (or from other sources) is rebuilt once.
  const previous = previousOutcome()
  if (!force && localBuildPresent() && previous?.patch === patch) return record({ status: 'present', patch })
  if (missing.length > 0) return record({ status: 'no-compiler', reason: `no ${missing.join(', ')} found, so no local build`, patch })

  console.log('qvacd: building the inference backend with OpenMP from the bundled llama.cpp source (3 to 6 minutes on 2 cores; QVACD_BACKEND_BUILD=0 skips it)')
  const log = path.join(path.dirname(outcomeFile), 'backend-build.log')
  fs.mkdirSync(path.dirname(log), { recursive: true })
  const out = fs.openSync(log, 'w')
  const started = Date.now()
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(nlc, 'dist', 'cli', 'cli.js'), 'source', 'download', '--gpu', 'false', '--noUsageExample'], {
      cwd: root,
      stdio: ['ignore', out, out]
    })
    child.on('exit', (c) => resolve(c ?? 1))
    child.on('error', () => resolve(1))
  })
  fs.closeSync(out)
  const minutes = ((Date.now() - started) / 60_000).toFixed(1)
  if (code !== 0 || !localBuildPresent()) return record({ status: 'failed', reason: `the local build failed after ${minutes} min, see ${log}`, patch })
  record({ status: 'built', minutes: Number(minutes), patch })
}

main().catch((err) => {
  record({ status: 'failed', reason: err.message })
})
