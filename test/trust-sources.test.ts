import test, { type Assertion } from 'brittle'
import { PROTOCOL_VERSION } from '../shared/version.ts'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { loopbackTestnet, startDaemon, connectClient } from './helpers/swarm.ts'
import { startFileServer } from './helpers/http-server.ts'
import { tinyModel } from './helpers/model.ts'
import { connectLocal, ErrorCode, QvacError, type QvacClient } from '../client/index.ts'
import { redactForRemote } from '../daemon/resolve/redact.ts'
import { runQvacd, startQvacd } from './helpers/cli.ts'

const ZEROS = '0'.repeat(64)

function sha256(data: Buffer | string): string {
  return crypto.createHash('sha256').update(data).digest('hex')
}

/** The error a call ends with (the call must fail). */
async function failure(call: Promise<unknown>): Promise<{ name: string; code: number; message: string; details?: unknown; stack?: string }> {
  return call.then(
    () => {
      throw new Error('expected the call to fail')
    },
    (err) => err
  )
}

/** What a peer learns from an error: its message and details. */
function told(err: { message: string; details?: unknown }): string {
  return JSON.stringify({ message: err.message, details: err.details ?? null })
}

/** SOURCE_NOT_ALLOWED, and nothing in it from `secrets` (paths, sizes, hashes) nor a stack. */
async function refused(t: Assertion, call: Promise<unknown>, what: string, secrets: string[] = []): Promise<string> {
  const err = await failure(call)
  t.is(err.code, ErrorCode.SOURCE_NOT_ALLOWED, `${what}: ${err.name} ${err.message}`)
  const text = told(err)
  const leaked = secrets.filter((secret) => text.includes(secret))
  t.alike(leaked, [], `${what}: tells nothing of ${secrets.length} secrets`)
  t.absent(/\n\s+at /.test(text), `${what}: no stack`)
  return err.message
}

test('a remote peer cannot make the daemon read host files: each probe is SOURCE_NOT_ALLOWED and says nothing of the file', async (t) => {
  const testnet = await loopbackTestnet(t)
  const dir = await t.tmp()
  const secret = Buffer.from('operator secret\n'.repeat(37))
  const secretPath = path.join(dir, 'secret.txt')
  await fs.writeFile(secretPath, secret)
  const model = await tinyModel(t)
  const daemon = await startDaemon(t, testnet)
  const client = await connectClient(t, testnet)
  const secrets = [dir, daemon.storage, sha256(secret), String(secret.length), model.sha256, String(model.size)]

  const messages = [
    await refused(t, client.downloadAsset({ source: '/etc/shadow', expectedSha256: ZEROS }), "downloadAsset('/etc/shadow', zeros)", secrets),
    await refused(t, client.downloadAsset({ source: 'file:///etc/shadow' }), "downloadAsset('file:///etc/shadow')", secrets),
    await refused(t, client.loadModel({ source: '/etc/passwd' }), "loadModel('/etc/passwd')", secrets),
    await refused(t, client.downloadAsset({ source: secretPath, expectedSha256: ZEROS }), 'a readable file with a wrong hash', secrets),
    await refused(t, client.downloadAsset({ source: `file://${secretPath}` }), 'a readable file as file://', secrets),
    await refused(t, client.loadModel({ source: model.path }), 'a real GGUF model outside any models dir', secrets),
    await refused(t, client.loadModel({ source: path.join(dir, 'missing.gguf') }), 'a missing file', secrets),
    await refused(t, client.downloadAsset({ source: 'relative/missing.bin' }), 'a relative path', secrets)
  ]
  t.is(new Set(messages).size, 1, 'the same words whether the file exists or not')
  t.is((await client.ping()).protocolVersion, PROTOCOL_VERSION, 'still serving')
})

test('a remote peer cannot make the daemon fetch from loopback, private, link-local or mapped addresses', async (t) => {
  const testnet = await loopbackTestnet(t)
  const secret = crypto.randomBytes(4096)
  const server = await startFileServer(t, { secret })
  const port = new URL(server.url('secret')).port
  await startDaemon(t, testnet)
  const client = await connectClient(t, testnet)
  const secrets = [sha256(secret), String(secret.length)]

  const probes = [
    server.url('secret'),
    `http://localhost:${port}/files/secret`, // a name that resolves to 127.0.0.1 (no DNS traffic: /etc/hosts)
    `http://[::1]:${port}/files/secret`,
    `http://[::ffff:127.0.0.1]:${port}/files/secret`,
    `http://[::ffff:7f00:1]:${port}/files/secret`,
    `http://0.0.0.0:${port}/files/secret`,
    `http://2130706433:${port}/files/secret`, // 127.0.0.1 spelled as one number
    `http://127.1:${port}/files/secret`,
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://10.0.0.1/model.gguf',
    'http://172.16.0.1/model.gguf',
    'http://192.168.1.1/model.gguf',
    'http://100.64.0.1/model.gguf',
    'http://224.0.0.1/model.gguf',
    'https://[fe80::1]/model.gguf',
    'https://[fc00::1]/model.gguf',
    'http://[64:ff9b::7f00:1]/model.gguf'
  ]
  for (const source of probes) await refused(t, client.downloadAsset({ source }), source, secrets)
  await refused(t, client.loadModel({ source: server.url('secret') }), 'loadModel from 127.0.0.1', secrets)
  t.is(server.received, 0, 'not one request reached the local server')
  t.is((await client.ping()).protocolVersion, PROTOCOL_VERSION, 'still serving')
})

test('every redirect is checked, names on the address they resolve to: an allowed server cannot bounce the daemon inside', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(8192)
  // For this test 127.0.0.2 stands for a public server; 127.0.0.1 is the private network behind it.
  const allowed = await startFileServer(t, { 'model.gguf': data }, { host: '127.0.0.2' })
  const inside = await startFileServer(t, { secret: crypto.randomBytes(1024) })
  await startDaemon(t, testnet, { allowPrivateSources: ['127.0.0.2/32'] })
  const client = await connectClient(t, testnet)

  const direct = await client.downloadAsset({ source: allowed.url('model.gguf') })
  t.is(direct.asset.sha256, sha256(data), 'the allowed server is reachable')
  const hops = await client.downloadAsset({ source: allowed.redirectUrl('model.gguf', 3) })
  t.is(hops.asset.sha256, sha256(data), 'redirects between allowed addresses are followed')

  const insidePort = new URL(inside.url('secret')).port
  for (const target of [
    inside.url('secret'),
    `http://localhost:${insidePort}/files/secret`, // refused by the lookup hook, at connect time
    `http://[::1]:${insidePort}/files/secret`,
    `http://[::ffff:127.0.0.1]:${insidePort}/files/secret`,
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    allowed.redirectTo(inside.url('secret')) // allowed, allowed, then inside
  ]) {
    await refused(t, client.downloadAsset({ source: allowed.redirectTo(target) }), `redirect to ${target}`)
  }
  t.is(inside.received, 0, 'the private server never saw a request')
})

test('with --allow-private-sources a remote peer may fetch from 127.0.0.1', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(8192)
  const server = await startFileServer(t, { 'model.gguf': data })
  await startDaemon(t, testnet, { allowPrivateSources: true })
  const client = await connectClient(t, testnet)

  const fetched = await client.downloadAsset({ source: server.url('model.gguf') })
  t.is(fetched.asset.sha256, sha256(data))
  t.is(fetched.asset.size, data.length)
  const port = new URL(server.url('model.gguf')).port
  const byName = await client.downloadAsset({ source: `http://localhost:${port}/files/model.gguf` })
  t.is(byName.asset.sha256, sha256(data), 'a name resolving to loopback too')
  await refused(t, client.downloadAsset({ source: '/etc/passwd' }), 'local files stay closed')
})

test('under --models-dir a remote peer uses files inside it, and nothing outside, symlinks resolved', async (t) => {
  const testnet = await loopbackTestnet(t)
  const base = await t.tmp()
  const models = path.join(base, 'models')
  const outside = path.join(base, 'outside')
  await fs.mkdir(models)
  await fs.mkdir(outside)
  const model = await tinyModel(t)
  await fs.copyFile(model.path, path.join(models, 'tiny.gguf'))
  await fs.copyFile(model.path, path.join(outside, 'private.gguf'))
  const notes = Buffer.from('not a model, but the operator put it here\n')
  await fs.writeFile(path.join(models, 'notes.txt'), notes)
  await fs.symlink(path.join(outside, 'private.gguf'), path.join(models, 'escape.gguf'))
  await fs.symlink(path.join(outside, 'gone.gguf'), path.join(models, 'dangling.gguf'))
  await fs.symlink(outside, path.join(models, 'outside-dir'))
  await fs.symlink('/etc', path.join(models, 'etc'))
  await fs.symlink(models, path.join(base, 'models-link'))

  // The operator names the dir through a symlink: both spellings lead inside.
  await startDaemon(t, testnet, { modelsDir: path.join(base, 'models-link') })
  const client = await connectClient(t, testnet)
  const secrets = [base, model.sha256]

  const loaded = await client.loadModel({ source: 'tiny.gguf', config: { threads: 1 } })
  t.ok(loaded.modelId, 'a relative path is relative to the models dir')
  t.is((await client.loadModel({ source: path.join(models, 'tiny.gguf'), config: { threads: 1 } })).modelId, loaded.modelId, 'absolute, inside')
  t.is((await client.loadModel({ source: `file://${path.join(base, 'models-link', 'tiny.gguf')}`, config: { threads: 1 } })).modelId, loaded.modelId, 'file://, through the symlinked name')
  const asset = await client.downloadAsset({ source: 'tiny.gguf', expectedSha256: model.sha256 })
  t.is(asset.asset.sha256, model.sha256, 'a right hash verifies')

  const wrong = await failure(client.downloadAsset({ source: 'tiny.gguf', expectedSha256: ZEROS }))
  t.is(wrong.code, ErrorCode.CHECKSUM_VALIDATION_FAILED)
  t.absent(told(wrong).includes(model.sha256), 'a wrong hash is not answered with the real one')
  t.absent(told(wrong).includes(base), 'nor with the path')

  const missing = await failure(client.loadModel({ source: 'missing.gguf' }))
  t.is(missing.code, ErrorCode.MODEL_NOT_FOUND, 'a missing file inside is MODEL_NOT_FOUND')
  t.ok(missing.message.includes('missing.gguf') && !missing.message.includes(base), missing.message)

  const invalid = await failure(client.loadModel({ source: 'notes.txt' }))
  t.is(invalid.code, ErrorCode.INVALID_MODEL_FILE)
  t.absent(told(invalid).includes(String(notes.length)), 'no size in INVALID_MODEL_FILE')
  t.absent(told(invalid).includes(base), 'nor a path')

  for (const source of [
    '../outside/private.gguf',
    path.join(outside, 'private.gguf'),
    path.join(models, '..', 'outside', 'private.gguf'),
    'escape.gguf',
    'dangling.gguf',
    'outside-dir/private.gguf',
    'outside-dir/absent.gguf',
    'etc/passwd',
    'etc/absent',
    '/etc/passwd'
  ]) {
    await refused(t, client.loadModel({ source }), source, secrets)
  }
  t.is((await client.ping()).protocolVersion, PROTOCOL_VERSION, 'still serving')
})

test('the operator over the control socket still uses local files and private sources, with full details', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t)
  const data = crypto.randomBytes(8192)
  const server = await startFileServer(t, { 'weights.bin': data })
  const daemon = await startDaemon(t, testnet)
  const operator: QvacClient = await connectLocal({ storage: daemon.storage })
  t.teardown(() => operator.close())

  const loaded = await operator.loadModel({ source: model.path, config: { threads: 1 } })
  t.ok(loaded.modelId, 'a local path anywhere')
  const fetched = await operator.downloadAsset({ source: server.url('weights.bin') })
  t.is(fetched.asset.sha256, sha256(data), 'from 127.0.0.1')

  const wrong = await failure(operator.downloadAsset({ source: model.path, expectedSha256: ZEROS }))
  t.is(wrong.code, ErrorCode.CHECKSUM_VALIDATION_FAILED)
  t.alike(wrong.details, { source: model.path, expected: ZEROS, actual: model.sha256 }, 'the operator sees the actual hash and the path')
  const missing = await failure(operator.loadModel({ source: path.join(path.dirname(model.path), 'missing.gguf') }))
  t.is(missing.code, ErrorCode.MODEL_NOT_FOUND)
  t.ok(missing.message.includes(path.dirname(model.path)), 'and where it looked')
})

test('what other layers put in an error loses the daemon\'s directories before it reaches a remote peer', (t) => {
  const err = new QvacError('MODEL_LOAD_FAILED', 'could not load /srv/qvacd/models/x.gguf: llama failed to open /srv/qvacd/models/x.gguf', {
    cause: new Error('inner'),
    details: { path: '/srv/qvacd/models/x.gguf', url: 'http://example.com/srv/qvacd/models/y', bytes: 12 }
  })
  const redacted = redactForRemote(err, ['/srv/qvacd/models', '/srv/qvacd']) as QvacError
  t.is(redacted.code, ErrorCode.MODEL_LOAD_FAILED)
  t.is(redacted.message, 'could not load <local>/x.gguf: llama failed to open <local>/x.gguf')
  t.alike(redacted.details, { path: '<local>/x.gguf', url: 'http://example.com/srv/qvacd/models/y', bytes: 12 }, 'a URL that merely contains the dir stays')
  t.is(redacted.cause, undefined, 'no cause')
})

test('qvacd start --models-dir DIR --allow-private-sources CIDR opens exactly those to remote peers', { timeout: 120_000 }, async (t) => {
  const testnet = await loopbackTestnet(t)
  const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  const models = await t.tmp()
  const model = await tinyModel(t)
  await fs.copyFile(model.path, path.join(models, 'tiny.gguf'))
  const data = crypto.randomBytes(4096)
  const server = await startFileServer(t, { 'weights.bin': data })

  const bad = await runQvacd(['start', '--topic', 'x', '--storage', await t.tmp(), '--bootstrap', bootstrap, '--allow-private-sources', '10.0.0.0/33'])
  t.is(bad.code, 2, 'a malformed range stops the start, as a usage error')
  t.ok(bad.stderr.includes('INVALID_ARGUMENT'), bad.stderr)

  const { info } = await startQvacd(t, ['--topic', 'trust-cli', '--storage', await t.tmp(), '--bootstrap', bootstrap, '--models-dir', models, '--allow-private-sources', '127.0.0.1/32'])
  const client = await connectClient(t, testnet, { peer: info.publicKey })
  t.is((await client.downloadAsset({ source: 'tiny.gguf', expectedSha256: model.sha256 })).asset.size, model.size, 'a file in the models dir')
  t.is((await client.downloadAsset({ source: server.url('weights.bin') })).asset.sha256, sha256(data), '127.0.0.1, as allowed')
  await refused(t, client.downloadAsset({ source: `http://[::1]:${new URL(server.url('weights.bin')).port}/files/weights.bin` }), '::1, not in the range')
  await refused(t, client.downloadAsset({ source: model.path }), 'a file outside the models dir', [model.sha256])
})

test('what the operator fetched through a private address is not served to a remote peer by its URL, cached or in flight', async (t) => {
  const testnet = await loopbackTestnet(t)
  const secret = crypto.randomBytes(1 << 20)
  // 127.0.0.2 stands for a public server that redirects into the private network (127.0.0.1).
  const outside = await startFileServer(t, {}, { host: '127.0.0.2' })
  const inside = await startFileServer(t, { secret }, { chunkDelayMs: 20 })
  const daemon = await startDaemon(t, testnet, { allowPrivateSources: ['127.0.0.2/32'] })
  const operator = await connectLocal({ storage: daemon.storage })
  t.teardown(() => operator.close())
  const client = await connectClient(t, testnet)
  const source = outside.redirectTo(inside.url('secret'))
  const secrets = [sha256(secret), String(secret.length)]

  const pulling = operator.downloadAsset({ source })
  await inside.sent('secret', 64 * 1024)
  await refused(t, client.downloadAsset({ source }), 'joining the operator\'s download in flight', secrets)
  t.is((await pulling).asset.sha256, sha256(secret), 'the operator got it')
  await refused(t, client.downloadAsset({ source }), 'the cached copy, by the same URL', secrets)
  t.is(inside.received, 1, 'only the operator\'s request reached the private server')
  t.is((await operator.downloadAsset({ source })).stats.cacheHit, true, 'the operator still has it cached')
})
