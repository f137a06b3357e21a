import test from 'brittle'
import path from 'node:path'
import { loopbackTestnet } from './helpers/swarm.ts'
import { runQvacd, startQvacd, startPublishing } from './helpers/cli.ts'
import { writeTinyLlamaGguf } from '../bench/tiny-model.ts'
import { Publisher } from '../daemon/publish/publisher.ts'

const bootstrapArg = (testnet: { bootstrap: Array<{ host: string; port: number }> }) =>
  testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')

test('registry and publisher in any order: a daemon started first finds both entries; list from another storage while the first seeds', { timeout: 300_000 }, async (t) => {
  const testnet = await loopbackTestnet(t)
  const bootstrap = bootstrapArg(testnet)
  const dir = await t.tmp()
  const publisherStorage = await t.tmp()
  const otherStorage = await t.tmp()
  const daemonStorage = await t.tmp()
  const a = writeTinyLlamaGguf(path.join(dir, 'a.gguf'), { seed: 1 })
  const b = writeTinyLlamaGguf(path.join(dir, 'b.gguf'), { seed: 2 })

  const created = await runQvacd(['registry', 'create', '--storage', publisherStorage, '--json'])
  t.is(created.code, 0, created.stderr)
  const { key } = JSON.parse(created.stdout)

  const unreachable = await runQvacd(['registry', 'list', '--registry', key, '--storage', otherStorage, '--bootstrap', bootstrap, '--timeout', '2000'])
  t.is(unreachable.code, 1, 'an unreachable registry is an error, not an empty list')
  t.ok(/no peer that has it answered within 2000 ms .*\(SOURCE_UNAVAILABLE\)$/.test(unreachable.stderr.trim()), unreachable.stderr)
  t.absent(unreachable.stdout.includes('no entries'))

  await startQvacd(t, ['--topic', 'reg-order', '--storage', daemonStorage, '--bootstrap', bootstrap, '--registry', key])
  const early = await runQvacd(['pull', 'registry://a', '--storage', daemonStorage, '--timeout', '20000'])
  t.is(early.code, 1)
  t.ok(early.stderr.includes('SOURCE_UNAVAILABLE'), `nobody seeds the registry yet: ${early.stderr}`)

  await startPublishing(t, ['publish', a.path, '--name', 'a', '--registry', key, '--storage', publisherStorage, '--bootstrap', bootstrap])

  const second = await runQvacd(['publish', b.path, '--name', 'b', '--registry', key, '--storage', publisherStorage, '--bootstrap', bootstrap, '--json'])
  t.is(second.code, 0, `a second publish while the first seeds: ${second.stderr}`)
  t.is(JSON.parse(second.stdout).seededBy, 'seeder', 'handed to the running seeder')

  const added = await runQvacd(['registry', 'add', 'a-again', JSON.parse(second.stdout).uri, '--sha256', b.sha256, '--size', String(b.size), '--storage', publisherStorage])
  t.is(added.code, 0, `registry add while publish seeds: ${added.stderr}`)
  const own = await runQvacd(['registry', 'list', '--storage', publisherStorage, '--json'])
  t.is(own.code, 0, own.stderr)
  t.alike(JSON.parse(own.stdout).map((e: { name: string }) => e.name), ['a', 'a-again', 'b'])
  const again = await runQvacd(['registry', 'create', '--storage', publisherStorage, '--json'])
  t.is(JSON.parse(again.stdout).key, key, 'registry create while publish seeds: the same registry')

  const listed = await runQvacd(['registry', 'list', '--registry', key, '--storage', otherStorage, '--bootstrap', bootstrap, '--json'])
  t.is(listed.code, 0, listed.stderr)
  t.alike(
    JSON.parse(listed.stdout).map((e: { name: string; sha256: string }) => [e.name, e.sha256]),
    [['a', a.sha256], ['a-again', b.sha256], ['b', b.sha256]],
    'another storage lists the registry from its seeder'
  )

  for (const [name, model] of [['a', a], ['b', b]] as const) {
    const pulled = await runQvacd(['pull', `registry://${name}`, '--storage', daemonStorage, '--json', '--timeout', '30000'])
    t.is(pulled.code, 0, `the daemon started before the publisher finds registry://${name}: ${pulled.stderr}`)
    t.is(JSON.parse(pulled.stdout).asset.sha256, model.sha256)
  }
})

test('a publisher store held by another process is STORE_LOCKED, not INVALID_ARGUMENT', { timeout: 120_000 }, async (t) => {
  const storage = await t.tmp()
  const holder = new Publisher({ storage })
  await holder.ready()
  t.teardown(() => holder.close())
  const result = await runQvacd(['registry', 'list', '--storage', storage])
  t.is(result.code, 1)
  t.ok(/is held by another qvacd process \(STORE_LOCKED\)$/.test(result.stderr.trim()), result.stderr)
})
