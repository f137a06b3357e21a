import test from 'brittle'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseSource } from '../daemon/resolve/source-uri.ts'
import { formatKey } from '../shared/keys.ts'
import { loopbackTestnet } from './helpers/swarm.ts'
import { startResolver, sha256 } from './helpers/resolver.ts'

const KEY = crypto.randomBytes(32)
const Z32 = formatKey(KEY)

function errorName(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as Error).name
  }
  return undefined
}

test('hyperdrive and pear URIs parse to one canonical drive source, z32 or hex keys', (t) => {
  const z32 = parseSource(`hyperdrive://${Z32}/models/tiny.gguf`)
  const hex = parseSource(`pear://${KEY.toString('hex')}/models/tiny.gguf`)
  t.is(z32.type, 'hyperdrive')
  t.is(z32.id, `hyperdrive://${Z32}/models/tiny.gguf`)
  t.is(hex.id, z32.id, 'pear:// and a hex key name the same file')
  t.is(z32.type === 'hyperdrive' && z32.path, '/models/tiny.gguf')
  t.is(parseSource(`hyperdrive://${Z32}/a%20b.gguf`).id, `hyperdrive://${Z32}/a%20b.gguf`, 'percent-encoding kept canonical')
})

test('drive paths that climb, are absolute, or carry NUL are refused as PATH_TRAVERSAL', (t) => {
  for (const bad of ['../etc/passwd', 'models/../../x', '/etc/passwd', 'a//b', '%2e%2e/x', 'a%2F..%2Fb', 'x%00.gguf', 'a\\..\\b', './x']) {
    t.is(errorName(() => parseSource(`hyperdrive://${Z32}/${bad}`)), 'PATH_TRAVERSAL', bad)
  }
})

test('malformed keys, URIs and unknown schemes fail with errors naming the problem', (t) => {
  t.is(errorName(() => parseSource('hyperdrive://not-a-key/x.gguf')), 'INVALID_ARGUMENT')
  try {
    parseSource('hyperdrive://not-a-key/x.gguf')
  } catch (err) {
    t.ok((err as Error).message.includes('drive key'), 'says it is the drive key')
  }
  t.is(errorName(() => parseSource(`hyperdrive://${Z32}`)), 'INVALID_ARGUMENT', 'no file path')
  t.is(errorName(() => parseSource(`hyperdrive://${Z32}/models/`)), 'INVALID_ARGUMENT', 'a folder')
  t.is(errorName(() => parseSource(`hyperdrive://${Z32}/%zz`)), 'INVALID_ARGUMENT', 'bad percent-encoding')
  t.is(errorName(() => parseSource('http://')), 'INVALID_ARGUMENT', 'malformed URL')
  t.is(errorName(() => parseSource('https://user:secret@example.com/m.gguf')), 'INVALID_ARGUMENT', 'credentials in a URL')
  t.is(errorName(() => parseSource('registry://')), 'INVALID_ARGUMENT', 'empty registry name')
  t.is(errorName(() => parseSource('registry://-x')), 'INVALID_ARGUMENT')
  t.is(errorName(() => parseSource('ftp://example.com/m.gguf')), 'UNSUPPORTED_SOURCE')
  t.is(errorName(() => parseSource('s3://bucket/m.gguf')), 'UNSUPPORTED_SOURCE')
  t.is(errorName(() => parseSource('')), 'INVALID_ARGUMENT')
  t.is(errorName(() => parseSource('models/x\0.gguf')), 'PATH_TRAVERSAL', 'NUL in a local path')
})

test('registry names, http URLs and local paths parse to their canonical ids', (t) => {
  t.is(parseSource('registry://llama-3.2:1b-q4').id, 'registry://llama-3.2:1b-q4')
  t.is(parseSource('HTTP://127.0.0.1:8080/a/m.gguf#frag').id, 'http://127.0.0.1:8080/a/m.gguf', 'scheme lowercased, fragment dropped')
  const local = parseSource('models/../m.gguf')
  t.is(local.type === 'file' && local.path, path.resolve('m.gguf'), 'relative to the working dir; .. is fine locally')
  t.is(parseSource(pathToFileURL('/tmp/a b.gguf').href).id, 'file:///tmp/a b.gguf')
})

test('a local file resolves in place; with an expected hash it is verified first', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { resolver } = await startResolver(t, testnet)
  const dir = await t.tmp()
  const data = crypto.randomBytes(100_000)
  const file = path.join(dir, 'local.gguf')
  await fs.writeFile(file, data)

  t.is(await resolver.resolveModel(file), file)
  const checked = await resolver.resolveModel(pathToFileURL(file).href, { stats: true, expectedSha256: sha256(data) })
  t.is(checked.path, file)
  t.is(checked.stats.sourceType, 'file')
  t.is(checked.stats.totalBytesDownloaded, 0)

  const wrong = await resolver.resolveModel(file, { expectedSha256: sha256(Buffer.from('other')) }).catch((e) => e)
  t.is(wrong.name, 'CHECKSUM_VALIDATION_FAILED')
  t.is((await resolver.resolveModel(path.join(dir, 'missing.gguf')).catch((e) => e)).name, 'MODEL_NOT_FOUND')
  t.is((await resolver.resolveModel(dir).catch((e) => e)).name, 'INVALID_ARGUMENT', 'a directory is not a model')
  t.is((await resolver.resolveModel(file, { expectedSha256: 'abc' }).catch((e) => e)).name, 'INVALID_ARGUMENT', 'malformed expected hash')
})

test('the resolver refuses traversal and unsupported sources before touching any network', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { resolver } = await startResolver(t, testnet)
  t.is((await resolver.resolveModel(`hyperdrive://${Z32}/../secrets`).catch((e) => e)).name, 'PATH_TRAVERSAL')
  t.is((await resolver.resolveModel('gopher://example.com/m').catch((e) => e)).name, 'UNSUPPORTED_SOURCE')
  t.is((await resolver.resolveModel('registry://anything').catch((e) => e)).name, 'SOURCE_UNAVAILABLE', 'no registry configured')
})
