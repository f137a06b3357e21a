import test, { type Assertion } from 'brittle'
import c from 'compact-encoding'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import Corestore from 'corestore'
import Hyperbee from 'hyperbee'
import { registryEntry, type RegistryEntryValue } from '../shared/messages.ts'
import { Registry, createRegistry } from '../daemon/registry/registry.ts'
import { publishFile } from '../daemon/resolve/publish.ts'
import { formatKey } from '../shared/keys.ts'
import { loopbackTestnet } from './helpers/swarm.ts'
import { startSeeder, type Seeder } from './helpers/seeder.ts'
import { startResolver, sha256 } from './helpers/resolver.ts'
import { startFileServer } from './helpers/http-server.ts'
import { AddressPolicy } from '../daemon/resolve/address-policy.ts'

const DRIVE = `hyperdrive://${formatKey(crypto.randomBytes(32))}/models/tiny.gguf`
const SHA = sha256(Buffer.from('tiny'))

/** A registry in the seeder's store, seeded beside its drives. */
async function seedRegistry(t: Assertion, seeder: Seeder): Promise<Registry> {
  const registry = new Registry({ store: seeder.store })
  t.teardown(() => registry.close())
  await registry.ready()
  await seeder.serve(registry.discoveryKey)
  return registry
}

test('registry entries round-trip through their compact-encoding codec, optional fields and all', (t) => {
  const full: RegistryEntryValue = { source: DRIVE, sha256: SHA, size: 669440, engine: 'llama.cpp', quantization: 'Q4_K_M', description: 'a tiny test model' }
  t.alike(c.decode(registryEntry, c.encode(registryEntry, full)), full)
  const bare: RegistryEntryValue = { source: DRIVE, sha256: SHA, size: 0 }
  t.alike(c.decode(registryEntry, c.encode(registryEntry, bare)), bare)
  t.is(c.encode(registryEntry, bare).byteLength, 1 + 1 + DRIVE.length + 32 + 1, 'flags, source, 32-byte hash, size: no JSON')
})

test('a registry is created, filled, listed and read; bad entries are refused', async (t) => {
  const dir = await t.tmp()
  const store = new Corestore(path.join(dir, 'corestore'))
  t.teardown(() => store.close())
  const key = await createRegistry(store)
  t.is(key.byteLength, 32)

  const registry = new Registry({ store })
  t.teardown(() => registry.close())
  await registry.ready()
  t.alike(registry.key, key, 'one registry per store: create is idempotent')
  t.ok(registry.writable)

  const added = await registry.add('tiny', { source: DRIVE, sha256: SHA.toUpperCase(), size: 4, engine: 'llama.cpp' })
  t.is(added.sha256, SHA, 'hash normalised to lowercase')
  await registry.add('alpha/base', { source: 'https://example.com/m.gguf', sha256: SHA, size: 1 })
  t.alike(await registry.get('tiny'), { name: 'tiny', source: DRIVE, sha256: SHA, size: 4, engine: 'llama.cpp' })
  t.is(await registry.get('absent'), null)
  t.alike((await registry.list()).map((e) => e.name), ['alpha/base', 'tiny'], 'listed by name')

  const refused = async (name: string, value: Partial<RegistryEntryValue>) =>
    (await registry.add(name, { source: DRIVE, sha256: SHA, size: 1, ...value }).catch((e) => e)).name
  t.is(await refused('x', { sha256: 'abc' }), 'INVALID_ARGUMENT', 'short hash')
  t.is(await refused('x', { sha256: 'g'.repeat(64) }), 'INVALID_ARGUMENT', 'non-hex hash')
  t.is(await refused('x', { size: -1 }), 'INVALID_ARGUMENT', 'negative size')
  t.is(await refused('x', { size: 1.5 }), 'INVALID_ARGUMENT', 'fractional size')
  t.is(await refused('x', { source: 'registry://loop' }), 'INVALID_ARGUMENT', 'a registry source')
  t.is(await refused('x', { source: '/tmp/local.gguf' }), 'INVALID_ARGUMENT', 'a local path')
  t.is(await refused('x', { source: `hyperdrive://${formatKey(crypto.randomBytes(32))}/../x` }), 'PATH_TRAVERSAL')
  t.is(await refused('../x', {}), 'INVALID_ARGUMENT', 'bad name')
})

test('registry://NAME resolves through a replicated registry to a seeded drive, then from the cache', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(1 << 20)
  const seeder = await startSeeder(t, testnet)
  const published = await seeder.publish('models/tiny.gguf', data)
  const registry = await seedRegistry(t, seeder)
  await registry.add('tiny', { source: published.uri, sha256: published.sha256, size: published.size, quantization: 'F32' })
  const { resolver } = await startResolver(t, testnet, { registryKey: registry.key })

  const first = await resolver.resolveModel('registry://tiny', { stats: true })
  t.ok(data.equals(await fs.readFile(first.path)))
  t.is(first.stats.sourceType, 'registry')
  t.is(first.stats.cacheHit, false)
  t.is(first.stats.totalBytesDownloaded, data.length)

  const second = await resolver.resolveModel('registry://tiny', { stats: true })
  t.is(second.stats.cacheHit, true)
  t.is(second.stats.sourceType, 'registry')
  t.is(second.stats.totalBytesDownloaded, 0)
  const direct = await resolver.resolveModel(published.uri, { stats: true })
  t.is(direct.stats.cacheHit, true, 'the drive URI itself is cached too')

  t.is((await resolver.resolveModel('registry://unknown').catch((e) => e)).name, 'MODEL_NOT_FOUND')
})

test('a registry entry whose size or hash does not match the bytes is refused and nothing is cached', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(100_000)
  const seeder = await startSeeder(t, testnet)
  const published = await seeder.publish('tiny.gguf', data)
  const registry = await seedRegistry(t, seeder)
  await registry.add('wrong-size', { source: published.uri, sha256: published.sha256, size: published.size + 1 })
  await registry.add('wrong-hash', { source: published.uri, sha256: sha256(Buffer.from('x')), size: published.size })
  const { resolver, storage } = await startResolver(t, testnet, { registryKey: registry.key })

  t.is((await resolver.resolveModel('registry://wrong-size').catch((e) => e)).name, 'SIZE_MISMATCH')
  t.is((await resolver.resolveModel('registry://wrong-hash').catch((e) => e)).name, 'CHECKSUM_VALIDATION_FAILED')
  const conflicting = await resolver.resolveModel('registry://wrong-size', { expectedSha256: sha256(Buffer.from('y')) }).catch((e) => e)
  t.is(conflicting.name, 'CHECKSUM_VALIDATION_FAILED', 'the caller and the registry disagree')
  t.alike(await fs.readdir(path.join(storage, 'cache', 'sha256')), [])
})

test('publishing can add the file to a registry; publishing it again writes nothing', async (t) => {
  const dir = await t.tmp()
  const store = new Corestore(path.join(dir, 'corestore'))
  t.teardown(() => store.close())
  const registry = new Registry({ store })
  t.teardown(() => registry.close())
  await registry.ready()
  const file = path.join(dir, 'tiny.gguf')
  const data = crypto.randomBytes(200_000)
  await fs.writeFile(file, data)

  const published = await publishFile({ store, file, registry: { registry, name: 'tiny', engine: 'llama.cpp' } })
  t.is(published.written, true)
  t.alike(published.entry, { name: 'tiny', source: published.uri, sha256: sha256(data), size: data.length, engine: 'llama.cpp' })
  t.alike(await registry.get('tiny'), published.entry)
  const again = await publishFile({ store, file })
  t.is(again.written, false, 'same name, same bytes')
  t.is(again.uri, published.uri)
  t.is((await publishFile({ store, file, name: '../escape' }).catch((e) => e)).name, 'PATH_TRAVERSAL')
})

test('a registry written by someone else cannot point the daemon at a local file; an unreachable one is SOURCE_UNAVAILABLE', async (t) => {
  const testnet = await loopbackTestnet(t)
  const seeder = await startSeeder(t, testnet)
  // Another implementation's registry: same codec, no validation on the way in.
  const rogue = new Hyperbee(seeder.store.get({ name: 'rogue-registry' }), { keyEncoding: 'utf-8', valueEncoding: registryEntry })
  t.teardown(() => rogue.close())
  await rogue.ready()
  await rogue.put('evil', { source: 'file:///etc/passwd', sha256: SHA, size: 1 })
  await seeder.serve(rogue.discoveryKey)

  const { resolver } = await startResolver(t, testnet, { registryKey: rogue.key })
  t.is((await resolver.resolveModel('registry://evil').catch((e) => e)).name, 'UNSUPPORTED_SOURCE')

  const lonely = await startResolver(t, testnet, { registryKey: crypto.randomBytes(32) })
  t.is((await lonely.resolver.resolveModel('registry://anything').catch((e) => e)).name, 'SOURCE_UNAVAILABLE')
})

test('a registry entry cannot send a remote caller to a private address either', async (t) => {
  const testnet = await loopbackTestnet(t)
  const seeder = await startSeeder(t, testnet)
  const server = await startFileServer(t, { secret: crypto.randomBytes(1024) })
  const rogue = new Hyperbee(seeder.store.get({ name: 'rogue-registry' }), { keyEncoding: 'utf-8', valueEncoding: registryEntry })
  t.teardown(() => rogue.close())
  await rogue.ready()
  await rogue.put('loopback', { source: server.url('secret'), sha256: SHA, size: 1024 })
  await rogue.put('metadata', { source: 'http://169.254.169.254/latest/meta-data/', sha256: SHA, size: 1 })
  await seeder.serve(rogue.discoveryKey)

  const { resolver } = await startResolver(t, testnet, { registryKey: rogue.key })
  const remote = { remote: true, modelsDir: null, addresses: new AddressPolicy(false) }
  for (const name of ['loopback', 'metadata']) {
    t.is((await resolver.resolveModel(`registry://${name}`, { access: remote }).catch((e) => e)).name, 'SOURCE_NOT_ALLOWED', name)
  }
  t.is(server.received, 0, 'nothing was fetched')
})
