import test from 'brittle'
import fs from 'node:fs'
import path from 'node:path'
import { loopbackTestnet } from './helpers/swarm.ts'
import { startQvacd } from './helpers/cli.ts'
import { qvacdSession, runQvacdIn } from './helpers/cli-session.ts'
import { startFileServer } from './helpers/http-server.ts'
import { eventually } from './helpers/model.ts'
import { writeTinyLlamaGguf } from '../bench/tiny-model.ts'
import { connect } from '../client/index.ts'

const bootstrapArg = (testnet: { bootstrap: Array<{ host: string; port: number }> }) =>
  testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')

test('the terminal walkthrough: model tiny, pull ./tiny.gguf from the caller\'s dir, list, run, ps, unload, rm', { timeout: 240_000 }, async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const work = await t.tmp()
  await startQvacd(t, ['--topic', 'term-walk', '--storage', storage, '--bootstrap', bootstrapArg(testnet)])
  const q = (args: string[], input?: string) => runQvacdIn(t, [...args, '--storage', storage], { cwd: work, input })

  const tiny = await runQvacdIn(t, ['model', 'tiny', 'tiny.gguf'], { cwd: work })
  t.is(tiny.code, 0, JSON.stringify(tiny.stderr))
  t.ok(fs.existsSync(path.join(work, 'tiny.gguf')), 'model tiny wrote the file in the caller\'s dir')
  t.ok(/random weights/.test(tiny.stdout) && /gibberish/.test(tiny.stdout), 'and says what to expect of it')

  const pull = await q(['pull', './tiny.gguf', '--json'])
  t.is(pull.code, 0, `a relative path is the caller's, not the daemon's: ${pull.stderr}`)
  t.is(JSON.parse(pull.stdout).asset.source, path.join(work, 'tiny.gguf'))

  const list = await q(['list'])
  t.is(list.code, 0, JSON.stringify(list.stderr))
  t.ok(list.stdout.includes(path.join(work, 'tiny.gguf')), JSON.stringify(list.stdout))
  t.ok(/\bno\s*$/m.test(list.stdout), 'not loaded yet')

  const once = await q(['run', './tiny.gguf', 'Hello', 'world', '--max-tokens', '8', '--json'])
  t.is(once.code, 0, JSON.stringify(once.stderr))
  const answer = JSON.parse(once.stdout)
  t.is(answer.stopReason, 'length')
  t.is(answer.stats.generatedTokens, 8)
  t.ok(answer.response.length > 0, 'answered the prompt')

  const piped = await q(['run', './tiny.gguf', '--max-tokens', '4', '--verbose'], 'a prompt on stdin\n')
  t.is(piped.code, 0, JSON.stringify(piped.stderr))
  t.ok(piped.stdout.trim().length > 0, 'answered the prompt read from stdin')
  t.ok(/eval rate:\s+[\d.]+ tokens\/s/.test(piped.stderr) && /time to first token:/.test(piped.stderr), JSON.stringify(piped.stderr))
  t.ok(/where the time went:\s+queued .*prompt eval .*generation .*network and client/.test(piped.stderr), 'says where the time went')

  const chat = await q(['run', './tiny.gguf', '--chat', '--max-tokens', '4', '--json'], 'first turn\nsecond turn\n/bye\nnever sent\n')
  t.is(chat.code, 0, JSON.stringify(chat.stderr))
  const turns = chat.stdout.trim().split('\n').map((line) => JSON.parse(line))
  t.is(turns.length, 2, 'one answer per line, none after /bye')
  t.ok(turns[1].stats.promptTokens > turns[0].stats.promptTokens, 'the second turn carries the conversation so far')

  const ps = await q(['ps', '--json'])
  t.is(ps.code, 0, JSON.stringify(ps.stderr))
  const loaded = JSON.parse(ps.stdout)
  t.is(loaded.length, 1, 'run reused the loaded model instead of loading it again')
  t.is(loaded[0].source, path.join(work, 'tiny.gguf'))
  t.ok(loaded[0].memoryBytes > 0)
  t.is(loaded[0].references, 1)
  t.ok(loaded[0].expiresAt, 'the default keep-alive applies')
  const table = await q(['ps'])
  t.ok(/ID\s+SOURCE\s+SIZE\s+MEMORY\s+STREAMS\s+QUEUED\s+REFS\s+IDLE\s+UNLOADS/.test(table.stdout), JSON.stringify(table.stdout))

  const listed = await q(['list', '--json'])
  t.alike(JSON.parse(listed.stdout).models[0].loaded, [loaded[0].modelId], 'list shows it loaded')

  const unload = await q(['unload', loaded[0].modelId])
  t.is(unload.code, 0, JSON.stringify(unload.stderr))
  t.is(unload.stdout.trim(), `unloaded ${loaded[0].modelId}`)
  t.alike(JSON.parse((await q(['ps', '--json'])).stdout), [])

  const rm = await q(['rm', './tiny.gguf'])
  t.is(rm.code, 0, JSON.stringify(rm.stderr))
  t.ok(/the file itself stays/.test(rm.stdout), 'a local file is forgotten, not deleted')
  t.ok(fs.existsSync(path.join(work, 'tiny.gguf')))
  t.alike(JSON.parse((await q(['list', '--json'])).stdout).models, [])
})

test('qvacd rm deletes a downloaded model and frees the disk; a loaded one only with --force (MODEL_IN_USE)', { timeout: 240_000 }, async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const model = writeTinyLlamaGguf(path.join(await t.tmp(), 'tiny.gguf'))
  const server = await startFileServer(t, { 'tiny.gguf': fs.readFileSync(model.path) })
  await startQvacd(t, ['--topic', 'term-rm', '--storage', storage, '--bootstrap', bootstrapArg(testnet)])
  const q = (args: string[]) => runQvacdIn(t, [...args, '--storage', storage])
  const url = server.url('tiny.gguf')

  const pulled = await q(['pull', url])
  t.is(pulled.code, 0, JSON.stringify(pulled.stderr))
  const cached = path.join(storage, 'cache', 'sha256', model.sha256)
  t.ok(fs.existsSync(cached), 'in the cache')
  const again = await q(['pull', url])
  t.ok(/CACHE HIT\s+yes/.test(again.stdout), JSON.stringify(again.stdout))
  t.ok(/DOWNLOAD TIME\s+—/.test(again.stdout) && /SPEED\s+—/.test(again.stdout), `a cache hit has no download time or speed: ${JSON.stringify(again.stdout)}`)

  const list = await q(['list'])
  t.ok(list.stdout.includes(url) && list.stdout.includes(model.sha256.slice(0, 12)), JSON.stringify(list.stdout))

  const load = await q(['load', url, '--json'])
  t.is(load.code, 0, JSON.stringify(load.stderr))
  const { modelId } = JSON.parse(load.stdout)

  const refused = await q(['rm', model.sha256.slice(0, 10)])
  t.is(refused.code, 1)
  t.ok(/is loaded as .* \(MODEL_IN_USE\)$/.test(refused.stderr.trim()), JSON.stringify(refused.stderr))
  t.ok(fs.existsSync(cached), 'nothing deleted')

  const forced = await q(['rm', url, '--force', '--json'])
  t.is(forced.code, 0, JSON.stringify(forced.stderr))
  t.alike(JSON.parse(forced.stdout), { removed: [{ sha256: model.sha256, size: model.size }], unloaded: [modelId] })
  t.absent(fs.existsSync(cached), 'the file is gone: disk freed')
  t.alike(JSON.parse((await q(['ps', '--json'])).stdout), [], 'and the model unloaded')

  const missing = await q(['rm', url])
  t.is(missing.code, 1)
  t.ok(missing.stderr.includes('MODEL_NOT_FOUND'), JSON.stringify(missing.stderr))
})

test('keep-alive unloads an idle model; --max-cache-size evicts the least recently used unloaded model', { timeout: 240_000 }, async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const dir = await t.tmp()
  const a = writeTinyLlamaGguf(path.join(dir, 'a.gguf'), { seed: 1 })
  const b = writeTinyLlamaGguf(path.join(dir, 'b.gguf'), { seed: 2 })
  const server = await startFileServer(t, { 'a.gguf': fs.readFileSync(a.path), 'b.gguf': fs.readFileSync(b.path) })
  const limit = Math.floor(a.size * 1.5)
  const daemon = await startQvacd(t, ['--topic', 'term-keep', '--storage', storage, '--bootstrap', bootstrapArg(testnet), '--keep-alive', '1s', '--max-cache-size', String(limit)])
  const q = (args: string[]) => runQvacdIn(t, [...args, '--storage', storage])

  const load = await q(['load', server.url('a.gguf'), '--json'])
  t.is(load.code, 0, JSON.stringify(load.stderr))
  const { modelId } = JSON.parse(load.stdout)
  const left = await eventually(
    async () => JSON.parse((await q(['ps', '--json'])).stdout),
    (models) => models.length === 0,
    30_000
  )
  t.ok(daemon.stderr().includes(`unloaded ${modelId}: idle for 1000 ms (keep-alive)`), JSON.stringify(daemon.stderr()))
  t.alike(left, [], 'unloaded once idle longer than the keep-alive')

  t.is((await q(['pull', server.url('b.gguf')])).code, 0)
  const listing = JSON.parse((await q(['list', '--json'])).stdout)
  t.alike(listing.models.map((m: { sha256: string }) => m.sha256), [b.sha256], 'a (least recently used, unloaded) made room for b')
  t.is(listing.maxBytes, limit)
  t.ok(listing.totalBytes <= limit)
})

test('remote peers cannot list or remove the cache: OPERATOR_ONLY; ps and status work for them, without local paths', { timeout: 240_000 }, async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const { info } = await startQvacd(t, ['--topic', 'term-op', '--storage', storage, '--bootstrap', bootstrapArg(testnet)])
  const client = await connect({ peer: info.publicKey, bootstrap: testnet.bootstrap })
  t.teardown(() => client.close())
  await t.exception(client.listCache(), /OPERATOR_ONLY|only for the daemon's operator/)
  const err = await client.removeCache('0123456789abcdef', { force: true }).catch((e) => e)
  t.is(err.name, 'OPERATOR_ONLY')
  t.alike(await client.listLoaded(), [])
  const model = writeTinyLlamaGguf(path.join(await t.tmp(), 'tiny.gguf'))
  t.is((await runQvacdIn(t, ['load', model.path, '--storage', storage])).code, 0)
  const seen = await client.listLoaded()
  t.is(seen.length, 1, 'ps works for a remote peer')
  t.is(seen[0].source, '(a local file)', 'without the host path of an operator-loaded file')
  const status = await client.status()
  t.alike(status.models.map((m) => m.source), ['(a local file)'], 'status hides it from a remote peer too')
  t.alike(status.load?.models.map((m) => [m.source, m.sha256]), [['(a local file)', '']], 'and so do the load announcements, hash included')
  const remote = await runQvacdIn(t, ['list', '--peer', info.publicKey, '--bootstrap', bootstrapArg(testnet)])
  t.is(remote.code, 1)
  t.ok(remote.stderr.trim().endsWith('(OPERATOR_ONLY)'), JSON.stringify(remote.stderr))
})

test('qvacd run chat: Ctrl-C stops the answer being written without leaving; /bye leaves', { timeout: 240_000 }, async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const model = writeTinyLlamaGguf(path.join(await t.tmp(), 'tiny.gguf'))
  await startQvacd(t, ['--topic', 'term-chat', '--storage', storage, '--bootstrap', bootstrapArg(testnet)])
  const chat = qvacdSession(t, ['run', model.path, '--chat', '--max-tokens', '4096', '--verbose', '--storage', storage])
  chat.child.stdin?.write('tell me everything\n')
  await chat.waitFor(/\S/)
  chat.child.kill('SIGINT')
  await chat.waitFor(/stop reason:\s+cancelled/, 'stderr')
  t.pass('the answer stopped: cancelled')
  chat.child.stdin?.write('/bye\n')
  const { code } = await chat.exited
  t.is(code, 0, 'left through /bye, not through the Ctrl-C')
  t.absent(/eval count:\s+4096/.test(chat.stderr()), 'the answer did not run to its end')
})

test('qvacd run: a bad number is a usage error (exit 2); without a daemon, DAEMON_NOT_RUNNING', { timeout: 240_000 }, async (t) => {
  const storage = await t.tmp()
  const result = await runQvacdIn(t, ['run', 'x.gguf', '--storage', storage])
  t.is(result.code, 1)
  t.ok(result.stderr.includes('DAEMON_NOT_RUNNING'), 'the daemon is looked up first')
  const bad = await runQvacdIn(t, ['run', 'x.gguf', '--max-tokens', 'many', '--storage', storage])
  t.is(bad.code, 2)
  t.is(bad.stderr.trim(), "qvacd: option '--max-tokens <n>' argument 'many' is invalid. expected a positive integer (INVALID_ARGUMENT)")
})

// script(1) (util-linux) gives qvacd a pseudo-terminal; without it this test is skipped.
const withScript = fs.existsSync('/usr/bin/script') ? test : test.skip

withScript('qvacd run in a terminal (a pseudo-terminal through script(1)): >>> prompt, Ctrl-C stops an answer, Ctrl-C at an empty prompt leaves', { timeout: 240_000 }, async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const model = writeTinyLlamaGguf(path.join(await t.tmp(), 'tiny.gguf'))
  await startQvacd(t, ['--topic', 'term-pty', '--storage', storage, '--bootstrap', bootstrapArg(testnet)])
  const tsx = path.join(import.meta.dirname, '..', 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')
  const bin = path.join(import.meta.dirname, '..', 'bin', 'qvacd.ts')
  const command = [process.execPath, '--import', tsx, bin, 'run', model.path, '--storage', storage, '--max-tokens', '4096'].join(' ')
  const pty = qvacdSession(t, ['-q', '-e', '-c', command, '/dev/null'], { executable: '/usr/bin/script' })
  const prompts = () => pty.stdout().split('>>> ').length - 1

  await pty.waitFor(/>>> /)
  t.ok(pty.stdout().includes('/bye or Ctrl-D leaves'), 'says how to leave')
  pty.child.stdin?.write('tell me everything\r')
  await pty.waitFor(/tell me everything[\r\n]+[^>]*\S/)
  pty.child.stdin?.write('\x03')
  await eventually(async () => prompts(), (n) => n >= 2, 60_000)
  t.pass('Ctrl-C stopped the answer and the prompt came back')
  pty.child.stdin?.write('\x03')
  const { code } = await pty.exited
  t.is(code, 0, 'Ctrl-C at the empty prompt left')
})
