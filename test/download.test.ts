import test from 'brittle'
import { PROTOCOL_VERSION } from '../shared/version.ts'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { loopbackTestnet, startDaemon, connectClient } from './helpers/swarm.ts'
import { startSeeder } from './helpers/seeder.ts'
import { tinyModel } from './helpers/model.ts'
import { runQvacd, startQvacd, startPublishing } from './helpers/cli.ts'
import HyperDHT from 'hyperdht'
import { connect, ErrorCode } from '../client/index.ts'

test('downloadAsset fetches a drive file into the daemon cache: progress, stats, a download event', async (t) => {
  const testnet = await loopbackTestnet(t)
  const seeder = await startSeeder(t, testnet)
  const data = crypto.randomBytes(3 * 1024 * 1024)
  const published = await seeder.publish('weights.bin', data)
  await startDaemon(t, testnet)
  const client = await connectClient(t, testnet)

  const progress: number[] = []
  const first = await client.downloadAsset({ source: published.uri, onProgress: (p) => progress.push(p.bytes) }, { profiling: true })
  t.is(first.asset.sha256, crypto.createHash('sha256').update(data).digest('hex'))
  t.is(first.asset.size, data.byteLength)
  t.is(first.asset.source, published.uri)
  t.is(first.stats.sourceType, 'hyperdrive')
  t.is(first.stats.cacheHit, false)
  t.is(first.stats.totalBytesDownloaded, data.byteLength)
  t.ok(progress.length > 0, `${progress.length} progress events reached the client`)
  const event = first.__profiling?.events.find((e) => e.kind === 'download')
  t.is(event?.op, 'downloadAsset')
  t.is(event?.tags.sourceType, 'hyperdrive')
  t.is(event?.gauges.totalBytesDownloaded, data.byteLength)

  const second = await client.downloadAsset({ source: published.uri })
  t.is(second.stats.cacheHit, true)
  t.is(second.stats.totalBytesDownloaded, 0)

  const wrong = await client.downloadAsset({ source: published.uri, expectedSha256: 'ab'.repeat(32) }).catch((e) => e)
  t.is(wrong.code, ErrorCode.CHECKSUM_VALIDATION_FAILED)
  t.is((await client.ping()).protocolVersion, PROTOCOL_VERSION, 'still serving')
})

test('loadModel from hyperdrive:// runs the model a peer published', async (t) => {
  const testnet = await loopbackTestnet(t)
  const model = await tinyModel(t, { eos: 5 })
  const seeder = await startSeeder(t, testnet)
  const published = await seeder.publish('tiny.gguf', await fs.readFile(model.path))
  await startDaemon(t, testnet)
  const client = await connectClient(t, testnet)

  const loaded = await client.loadModel({ source: published.uri, config: { threads: 1 } })
  t.is(loaded.stats.sourceType, 'hyperdrive')
  t.is(loaded.stats.totalBytesDownloaded, model.size)
  t.ok(loaded.stats.modelInitializationTime > 0)
  const stream = client.infer({ modelId: loaded.modelId, prompt: 'Hello', maxTokens: 10, temperature: 0 })
  t.is(await stream.text(), ' the a an and of')
})

test('qvacd publish, registry and pull as commands: a daemon resolves registry://NAME', async (t) => {
  const testnet = await loopbackTestnet(t)
  const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  const model = await tinyModel(t)
  const publisherStorage = await t.tmp()

  const created = await runQvacd(['registry', 'create', '--storage', publisherStorage, '--json'])
  t.is(created.code, 0, created.stderr)
  const registryKey = JSON.parse(created.stdout).key as string

  const published = await runQvacd(['publish', model.path, '--name', 'tiny', '--registry', registryKey, '--storage', publisherStorage, '--no-seed', '--json'])
  t.is(published.code, 0, published.stderr)
  const info = JSON.parse(published.stdout)
  t.ok(info.uri.startsWith('hyperdrive://'))
  t.is(info.sha256, model.sha256)
  t.is(info.size, model.size)

  const listed = await runQvacd(['registry', 'list', '--storage', publisherStorage, '--json'])
  t.is(listed.code, 0, listed.stderr)
  t.alike(
    JSON.parse(listed.stdout).map((e: { name: string; sha256: string }) => [e.name, e.sha256]),
    [['tiny', model.sha256]]
  )

  // The publisher seeds the drive and the registry; a daemon started with --registry finds both.
  const seeding = await startPublishing(t, ['publish', model.path, '--name', 'tiny', '--storage', publisherStorage, '--bootstrap', bootstrap])
  const daemonStorage = await t.tmp()
  await startQvacd(t, ['--topic', 'pull-test', '--storage', daemonStorage, '--bootstrap', bootstrap, '--registry', registryKey])
  const pulled = await runQvacd(['pull', 'registry://tiny', '--storage', daemonStorage, '--json'])
  t.is(pulled.code, 0, pulled.stderr)
  const stats = JSON.parse(pulled.stdout)
  t.is(stats.asset.sha256, model.sha256)
  t.is(stats.stats.sourceType, 'registry')
  t.is(stats.stats.totalBytesDownloaded, model.size)
  t.ok(seeding)

  const missing = await runQvacd(['pull', 'registry://nope', '--storage', daemonStorage])
  t.is(missing.code, 1)
  t.ok(missing.stderr.includes('MODEL_NOT_FOUND'), missing.stderr)
  t.ok(path.isAbsolute(daemonStorage))
})

test('a daemon with an allowlist still fetches from seeders it dials, which get no RPC', async (t) => {
  const testnet = await loopbackTestnet(t)
  const seeder = await startSeeder(t, testnet)
  const published = await seeder.publish('weights.bin', crypto.randomBytes(256 * 1024))
  const friend = HyperDHT.keyPair()
  await startDaemon(t, testnet, { allow: [friend.publicKey] })
  const client = await connectClient(t, testnet, { keyPair: friend })

  const fetched = await client.downloadAsset({ source: published.uri })
  t.is(fetched.stats.sourceType, 'hyperdrive', 'the seeder outside the allowlist served the drive')

  const asSeeder = await connect({ topic: 'qvacd-test', bootstrap: testnet.bootstrap, keyPair: seeder.swarm.keyPair, connectTimeout: 2000 }).catch((e) => e)
  t.is(asSeeder.code, ErrorCode.CONNECT_REFUSED, 'but it cannot call the daemon')
})
