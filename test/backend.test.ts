import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import test from 'brittle'
import { loopbackTestnet } from './helpers/swarm.ts'
import { servingDaemon } from './helpers/model.ts'

const run = promisify(execFile)
const SCRIPT = path.join(import.meta.dirname, '..', 'scripts', 'build-backend.mjs')
const BUILD = /^(local build|prebuilt), (OpenMP|no OpenMP)/

test('status and the inference event say which llama.cpp build serves', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { client, modelId } = await servingDaemon(t, testnet)
  const status = await client.status()
  t.ok(BUILD.test(status.backend), `status: ${status.backend}`)

  const stream = client.infer({ modelId, prompt: 'Hello', maxTokens: 4, temperature: 0 }, { profiling: true })
  await stream.text()
  const inference = (await stream.trailer).__profilingTrailer?.events.find((e) => e.kind === 'inference')
  t.is(inference?.tags.backendBuild, status.backend.split(' (')[0], 'the inference event names the same build')
  t.is(inference?.tags.backendDevice, 'cpu')
})

test('the install step without a compiler keeps the install going and records why the prebuilt serves', async (t) => {
  const dir = await t.tmp()
  const outcome = path.join(dir, 'backend-build.json')
  // An empty PATH: no cmake, git or c++ to be found; node itself is run by its path.
  const { stdout } = await run(process.execPath, [SCRIPT, '--force'], { env: { PATH: dir, QVACD_BACKEND_OUTCOME: outcome } })
  t.ok(stdout.includes('inference backend: prebuilt'), stdout.trim())
  const recorded = JSON.parse(fs.readFileSync(outcome, 'utf8'))
  t.is(recorded.status, 'no-compiler')
  t.ok(/cmake/.test(recorded.reason) && /c\+\+/.test(recorded.reason), recorded.reason)
})

test('QVACD_BACKEND_BUILD=0 skips the build', async (t) => {
  const outcome = path.join(await t.tmp(), 'backend-build.json')
  await run(process.execPath, [SCRIPT, '--force'], { env: { ...process.env, QVACD_BACKEND_BUILD: '0', QVACD_BACKEND_OUTCOME: outcome } })
  t.is(JSON.parse(fs.readFileSync(outcome, 'utf8')).status, 'skipped')
})
