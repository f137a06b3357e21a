import test from 'brittle'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { DownloadProgress } from '../shared/download-stats.ts'
import { loopbackTestnet } from './helpers/swarm.ts'
import { startFileServer } from './helpers/http-server.ts'
import { startResolver, sha256 } from './helpers/resolver.ts'

const SIZE = 1 << 20

async function cacheFiles(storage: string): Promise<string[]> {
  const dirs = ['sha256', 'partial'].map((dir) => path.join(storage, 'cache', dir))
  return (await Promise.all(dirs.map((dir) => fs.readdir(dir)))).flat()
}

test('an http source is downloaded, verified and cached; the second resolve is a cache hit', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data })
  const { resolver } = await startResolver(t, testnet)

  const progress: DownloadProgress[] = []
  const checksums: Array<{ ok: boolean }> = []
  const first = await resolver.resolveModel(server.url('tiny.gguf'), {
    stats: true,
    expectedSha256: sha256(data),
    hooks: { onProgress: (p) => progress.push(p), onChecksumEnd: (r) => checksums.push(r) }
  })
  t.ok(data.equals(await fs.readFile(first.path)), 'the file is the served bytes')
  t.is(path.basename(first.path), sha256(data), 'content-addressed by SHA-256')
  t.is(first.stats.sourceType, 'http')
  t.is(first.stats.cacheHit, false)
  t.is(first.stats.totalBytesDownloaded, SIZE)
  t.is(first.stats.bytesResumed, 0)
  t.ok(first.stats.downloadTime > 0 && first.stats.totalDownloadTime >= first.stats.downloadTime)
  t.ok(first.stats.downloadSpeedBps > 0)
  t.alike(progress.at(-1), { ...progress.at(-1), bytes: SIZE, total: SIZE }, 'progress ends at the full size')
  t.alike(checksums, [{ ok: true, ms: first.stats.checksumValidationTime }], 'checksum hooks report the check')

  let hits = 0
  const second = await resolver.resolveModel(server.url('tiny.gguf'), { stats: true, hooks: { onCacheHit: () => hits++ } })
  t.is(second.path, first.path)
  t.is(second.stats.cacheHit, true)
  t.is(second.stats.totalBytesDownloaded, 0)
  t.is(second.stats.downloadTime, 0)
  t.is(hits, 1, 'onCacheHit called')
  t.is(server.requests('tiny.gguf'), 1, 'one request in all')
  t.is(await resolver.resolveModel(server.url('tiny.gguf')), first.path, 'base mode returns the path')
})

test('a wrong hash is CHECKSUM_VALIDATION_FAILED and leaves the cache empty', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data })
  const { resolver, storage } = await startResolver(t, testnet)

  const err = await resolver.resolveModel(server.url('tiny.gguf'), { expectedSha256: sha256(Buffer.from('something else')) }).catch((e) => e)
  t.is(err.name, 'CHECKSUM_VALIDATION_FAILED')
  t.is(err.details.actual, sha256(data))
  t.alike(await cacheFiles(storage), [], 'nothing verified, nothing partial')
})

test('a download cut mid-body fails typed, keeps the partial, and the next resolve resumes it with Range', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data })
  const { resolver } = await startResolver(t, testnet)

  server.cutNext('tiny.gguf', 300_000)
  const err = await resolver.resolveModel(server.url('tiny.gguf')).catch((e) => e)
  t.is(err.name, 'DOWNLOAD_FAILED')

  const resumed = await resolver.resolveModel(server.url('tiny.gguf'), { stats: true, expectedSha256: sha256(data) })
  t.ok(resumed.stats.bytesResumed > 0, `resumed from byte ${resumed.stats.bytesResumed}`)
  t.is(resumed.stats.bytesResumed + resumed.stats.totalBytesDownloaded, SIZE, 'only the rest was fetched')
  t.ok(data.equals(await fs.readFile(resumed.path)), 'the stitched file has the right bytes')
  t.is(server.requests('tiny.gguf'), 2)
})

test('a server that ignores Range gets a fresh download from byte 0', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data }, { ignoreRange: true })
  const { resolver } = await startResolver(t, testnet)

  server.cutNext('tiny.gguf', 300_000)
  t.is((await resolver.resolveModel(server.url('tiny.gguf')).catch((e) => e)).name, 'DOWNLOAD_FAILED')

  const again = await resolver.resolveModel(server.url('tiny.gguf'), { stats: true, expectedSha256: sha256(data) })
  t.is(again.stats.bytesResumed, 0)
  t.is(again.stats.totalBytesDownloaded, SIZE)
  t.ok(data.equals(await fs.readFile(again.path)))
})

test('redirects are followed up to a limit', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(10_000)
  const server = await startFileServer(t, { 'tiny.gguf': data })
  const { resolver } = await startResolver(t, testnet)

  const followed = await resolver.resolveModel(server.redirectUrl('tiny.gguf', 3))
  t.ok(data.equals(await fs.readFile(followed)), 'three hops')
  const err = await resolver.resolveModel(server.redirectUrl('tiny.gguf', 11)).catch((e) => e)
  t.is(err.name, 'DOWNLOAD_FAILED')
  t.ok(err.message.includes('redirects'))
})

test('missing files, size limits and unreachable servers are typed errors and cache nothing', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data })
  const { resolver, storage } = await startResolver(t, testnet, { maxBytes: SIZE - 1 })

  t.is((await resolver.resolveModel(server.url('absent.gguf')).catch((e) => e)).name, 'MODEL_NOT_FOUND')
  t.is((await resolver.resolveModel(server.url('tiny.gguf')).catch((e) => e)).name, 'SIZE_LIMIT_EXCEEDED')
  t.is((await resolver.resolveModel('http://127.0.0.1:1/m.gguf').catch((e) => e)).name, 'DOWNLOAD_FAILED')
  t.alike(await cacheFiles(storage), [])
})

test('a cut download without validators says it starts over and leaves no partial behind', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data }, { noValidators: true })
  const { resolver, storage } = await startResolver(t, testnet)

  server.cutNext('tiny.gguf', 300_000)
  const err = await resolver.resolveModel(server.url('tiny.gguf')).catch((e) => e)
  t.is(err.name, 'DOWNLOAD_FAILED')
  t.ok(err.message.includes('starts over') && !err.message.includes('resumes'), err.message)
  t.is(err.details.resumable, false)
  t.alike(await cacheFiles(storage), [], 'the partial that could never resume is gone')

  const again = await resolver.resolveModel(server.url('tiny.gguf'), { stats: true, expectedSha256: sha256(data) })
  t.is(again.stats.bytesResumed, 0, 'and the next resolve starts from byte 0')
  t.ok(data.equals(await fs.readFile(again.path)))
})

test('with validators a cut download says it resumes; at start the cache drops partials that never could', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data })
  const storage = await t.tmp()
  const first = await startResolver(t, testnet, { storage })

  server.cutNext('tiny.gguf', 300_000)
  const err = await first.resolver.resolveModel(server.url('tiny.gguf')).catch((e) => e)
  t.ok(err.message.includes('resumes'), err.message)
  t.is(err.details.resumable, true)
  await first.close()

  const partialDir = path.join(storage, 'cache', 'partial')
  const kept = await fs.readdir(partialDir)
  t.is(kept.length, 2, 'the resumable partial and its sidecar')
  await fs.writeFile(path.join(partialDir, 'no-sidecar'), 'x')
  await fs.writeFile(path.join(partialDir, 'no-validator'), 'x')
  await fs.writeFile(path.join(partialDir, 'no-validator.meta'), JSON.stringify({ url: 'http://example.com/m' }))
  await fs.writeFile(path.join(partialDir, 'orphan.meta'), JSON.stringify({ url: 'http://example.com/m', etag: '"x"' }))

  const second = await startResolver(t, testnet, { storage })
  t.alike((await fs.readdir(partialDir)).sort(), kept.sort(), 'only the resumable one is left')
  const resumed = await second.resolver.resolveModel(server.url('tiny.gguf'), { stats: true, expectedSha256: sha256(data) })
  t.ok(resumed.stats.bytesResumed > 0, `resumed from byte ${resumed.stats.bytesResumed}`)
})
