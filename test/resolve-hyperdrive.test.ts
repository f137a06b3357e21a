import test from 'brittle'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import { formatKey } from '../shared/keys.ts'
import { loopbackTestnet } from './helpers/swarm.ts'
import { startSeeder } from './helpers/seeder.ts'
import { startResolver, downloaded, sha256 } from './helpers/resolver.ts'

const SIZE = 4 << 20

test('a drive file seeded by another peer resolves over the swarm; the second resolve is a cache hit', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const seeder = await startSeeder(t, testnet)
  const published = await seeder.publish('models/tiny.gguf', data)
  t.is(published.uri, `hyperdrive://${formatKey(published.key)}/models/tiny.gguf`)
  t.is(published.sha256, sha256(data))
  t.is(published.size, SIZE)
  const { resolver } = await startResolver(t, testnet)

  let lastBytes = 0
  const first = await resolver.resolveModel(published.uri, { stats: true, hooks: { onProgress: (p) => (lastBytes = p.bytes) } })
  t.ok(data.equals(await fs.readFile(first.path)), 'the seeded bytes')
  t.is(first.stats.sourceType, 'hyperdrive')
  t.is(first.stats.cacheHit, false)
  t.is(first.stats.totalBytesDownloaded, SIZE)
  t.is(first.stats.bytesResumed, 0)
  t.ok(first.stats.downloadSpeedBps > 0)
  t.is(lastBytes, SIZE, 'progress reached the full size')

  const second = await resolver.resolveModel(published.uri.replace('hyperdrive://', 'pear://'), { stats: true })
  t.is(second.path, first.path, 'pear:// names the same file')
  t.is(second.stats.cacheHit, true)
  t.is(second.stats.totalBytesDownloaded, 0)
})

test('two files of one drive resolve at the same time', async (t) => {
  const testnet = await loopbackTestnet(t)
  const a = crypto.randomBytes(SIZE)
  const b = crypto.randomBytes(SIZE / 2)
  const seeder = await startSeeder(t, testnet)
  const first = await seeder.publish('a.gguf', a)
  const second = await seeder.publish('b.gguf', b)
  t.alike(first.key, second.key, 'one drive')
  const { resolver } = await startResolver(t, testnet)

  const [pathA, pathB] = await Promise.all([resolver.resolveModel(first.uri), resolver.resolveModel(second.uri)])
  t.ok(a.equals(await fs.readFile(pathA)))
  t.ok(b.equals(await fs.readFile(pathB)))
})

test('a file the drive does not have is MODEL_NOT_FOUND; a drive nobody seeds is SOURCE_UNAVAILABLE', async (t) => {
  const testnet = await loopbackTestnet(t)
  const seeder = await startSeeder(t, testnet)
  const published = await seeder.publish('tiny.gguf', crypto.randomBytes(1000))
  const { resolver } = await startResolver(t, testnet)

  const missing = await resolver.resolveModel(published.uri.replace('tiny.gguf', 'other.gguf')).catch((e) => e)
  t.is(missing.name, 'MODEL_NOT_FOUND')
  const nobody = await resolver.resolveModel(`hyperdrive://${formatKey(crypto.randomBytes(32))}/tiny.gguf`).catch((e) => e)
  t.is(nobody.name, 'SOURCE_UNAVAILABLE')
})

test('a wrong expected hash fails and caches nothing', async (t) => {
  const testnet = await loopbackTestnet(t)
  const seeder = await startSeeder(t, testnet)
  const published = await seeder.publish('tiny.gguf', crypto.randomBytes(100_000))
  const { resolver, storage } = await startResolver(t, testnet)

  const err = await resolver.resolveModel(published.uri, { expectedSha256: sha256(Buffer.from('x')) }).catch((e) => e)
  t.is(err.name, 'CHECKSUM_VALIDATION_FAILED')
  t.alike(await fs.readdir(`${storage}/cache/sha256`), [])
  t.alike(await fs.readdir(`${storage}/cache/partial`), [])
})

test('a seeder stopped mid-download and another started: the download completes', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(3 * SIZE)
  const first = await startSeeder(t, testnet)
  const published = await first.publish('tiny.gguf', data)
  const { resolver, store } = await startResolver(t, testnet)

  const arrived = downloaded(store, first.contentKey(published.key), 256 * 1024)
  const resolving = resolver.resolveModel(published.uri, { stats: true })
  await arrived
  await first.close()
  t.ok(first.uploadedBytes < data.length, `the first seeder served ${first.uploadedBytes} of ${data.length} bytes`)

  const second = await startSeeder(t, testnet, { storage: first.storage })
  await second.seed(published.key)
  const done = await resolving
  t.ok(data.equals(await fs.readFile(done.path)), 'complete and right')
  t.is(done.stats.totalBytesDownloaded, data.length)
})

test('a download stopped half-way continues after a restart without refetching verified blocks', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(2 * SIZE)
  const seeder = await startSeeder(t, testnet)
  const published = await seeder.publish('tiny.gguf', data)
  const first = await startResolver(t, testnet)

  const controller = new AbortController()
  const arrived = downloaded(first.store, seeder.contentKey(published.key), 1 << 20)
  const stopped = first.resolver.resolveModel(published.uri, { signal: controller.signal }).catch((e) => e)
  await arrived
  controller.abort()
  t.is((await stopped).name, 'REQUEST_ABORTED')
  await first.close()

  const restarted = await startResolver(t, testnet, { storage: first.storage })
  const done = await restarted.resolver.resolveModel(published.uri, { stats: true, expectedSha256: sha256(data) })
  t.ok(done.stats.bytesResumed > 0 && done.stats.bytesResumed < data.length, `${done.stats.bytesResumed} bytes were already verified`)
  t.is(done.stats.bytesResumed + done.stats.totalBytesDownloaded, data.length, 'only the missing blocks were fetched')
  t.ok(data.equals(await fs.readFile(done.path)))
})
