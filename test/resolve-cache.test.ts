import test from 'brittle'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { QvacError } from '../shared/errors.ts'
import { loopbackTestnet } from './helpers/swarm.ts'
import { startFileServer } from './helpers/http-server.ts'
import { startResolver, sha256 } from './helpers/resolver.ts'

const SIZE = 2 << 20

test('concurrent resolves of one source share one download', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data }, { chunkDelayMs: 2 })
  const { resolver } = await startResolver(t, testnet)

  const seen = [0, 0, 0]
  const all = await Promise.all(
    seen.map((_, i) => resolver.resolveModel(server.url('tiny.gguf'), { stats: true, hooks: { onProgress: (p) => (seen[i] = p.bytes) } }))
  )
  t.is(server.requests('tiny.gguf'), 1, 'one request at the server')
  t.alike(seen, [SIZE, SIZE, SIZE], 'every waiter saw the progress to the end')
  t.is(new Set(all.map((r) => r.path)).size, 1, 'one file')
  t.ok(all.every((r) => !r.stats.cacheHit), 'each waited on the download')
  t.ok(data.equals(await fs.readFile(all[0].path)))
})

test('one waiter giving up leaves the shared download to the others', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data }, { chunkDelayMs: 5 })
  const { resolver } = await startResolver(t, testnet)

  const impatient = new AbortController()
  const first = resolver.resolveModel(server.url('tiny.gguf'), { signal: impatient.signal }).catch((e) => e)
  const second = resolver.resolveModel(server.url('tiny.gguf'), { stats: true })
  await server.sent('tiny.gguf', 256 * 1024)
  impatient.abort()

  t.is((await first).name, 'REQUEST_ABORTED')
  const done = await second
  t.is(done.stats.totalBytesDownloaded, SIZE)
  t.is(server.requests('tiny.gguf'), 1)
})

test('cancelling the last waiter stops the download; the next resolve resumes it', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data }, { chunkDelayMs: 5 })
  const { resolver, storage } = await startResolver(t, testnet)

  const a = new AbortController()
  const b = new AbortController()
  const first = resolver.resolveModel(server.url('tiny.gguf'), { signal: a.signal }).catch((e) => e)
  const second = resolver.resolveModel(server.url('tiny.gguf'), { signal: b.signal }).catch((e) => e)
  await server.sent('tiny.gguf', 256 * 1024)
  a.abort()
  b.abort()
  t.is((await first).name, 'REQUEST_ABORTED')
  t.is((await second).name, 'REQUEST_ABORTED')
  t.alike(await fs.readdir(path.join(storage, 'cache', 'sha256')), [], 'nothing half-written is in the cache')

  const resumed = await resolver.resolveModel(server.url('tiny.gguf'), { stats: true, expectedSha256: sha256(data) })
  t.is(resumed.stats.cacheHit, false, 'the aborted download did not finish on its own')
  t.ok(resumed.stats.bytesResumed > 0 && resumed.stats.bytesResumed < SIZE, `resumed at ${resumed.stats.bytesResumed}`)
  t.is(resumed.stats.bytesResumed + resumed.stats.totalBytesDownloaded, SIZE)
  t.ok(data.equals(await fs.readFile(resumed.path)))
  t.is(server.requests('tiny.gguf'), 2)
})

test('a damaged cache file is dropped and fetched again; an intact touched one is re-verified and kept', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'tiny.gguf': data })
  const { resolver } = await startResolver(t, testnet)

  const cached = await resolver.resolveModel(server.url('tiny.gguf'))
  const later = new Date(Date.now() + 5000)
  await fs.utimes(cached, later, later)
  const touched = await resolver.resolveModel(server.url('tiny.gguf'), { stats: true })
  t.is(touched.stats.cacheHit, true, 'same bytes: still a hit')
  t.is(server.requests('tiny.gguf'), 1)

  const damaged = Buffer.from(data)
  damaged[12345] ^= 0xff
  await fs.writeFile(cached, damaged)
  const refetched = await resolver.resolveModel(server.url('tiny.gguf'), { stats: true })
  t.is(refetched.stats.cacheHit, false)
  t.is(refetched.stats.totalBytesDownloaded, SIZE)
  t.ok(data.equals(await fs.readFile(refetched.path)), 'the good bytes are back')
  t.is(server.requests('tiny.gguf'), 2)
})

test('the cache is content-addressed: another source with a known hash is a hit without a request', async (t) => {
  const testnet = await loopbackTestnet(t)
  const data = crypto.randomBytes(SIZE)
  const server = await startFileServer(t, { 'a.gguf': data, 'b.gguf': data })
  const { resolver } = await startResolver(t, testnet)

  const a = await resolver.resolveModel(server.url('a.gguf'))
  const b = await resolver.resolveModel(server.url('b.gguf'), { stats: true, expectedSha256: sha256(data) })
  t.is(b.path, a, 'same file')
  t.is(b.stats.cacheHit, true)
  t.is(server.requests('b.gguf'), 0)
})

test('an aborted resolve rejects with REQUEST_ABORTED at once, and a timeout reason is kept', async (t) => {
  const testnet = await loopbackTestnet(t)
  const server = await startFileServer(t, { 'tiny.gguf': crypto.randomBytes(SIZE) }, { chunkDelayMs: 5 })
  const { resolver } = await startResolver(t, testnet)

  t.is((await resolver.resolveModel(server.url('tiny.gguf'), { signal: AbortSignal.abort() }).catch((e) => e)).name, 'REQUEST_ABORTED')
  const controller = new AbortController()
  const pending = resolver.resolveModel(server.url('tiny.gguf'), { signal: controller.signal }).catch((e) => e)
  await server.sent('tiny.gguf', 64 * 1024)
  controller.abort(new QvacError('REQUEST_TIMEOUT', 'deadline'))
  t.is((await pending).name, 'REQUEST_TIMEOUT', 'the router aborts with its timeout error; it is passed through')
})
