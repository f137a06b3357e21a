import test from 'brittle'
import { PROTOCOL_VERSION } from '../shared/version.ts'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import readline from 'node:readline'
import HyperDHT from 'hyperdht'
import { connect, ErrorCode } from '../client/index.ts'
import { connectClient, loopbackTestnet, startDaemon } from './helpers/swarm.ts'
import { eventually, servingDaemon } from './helpers/model.ts'
import { startQvacd } from './helpers/cli.ts'

const bootstrapArg = (testnet: { bootstrap: Array<{ host: string; port: number }> }) =>
  testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')

test('a SIGKILLed client: its stream is cancelled and its sequence freed', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { daemon, modelId } = await servingDaemon(t, testnet, { config: { sequences: 1 } })
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'helpers', 'streaming-client.ts'), bootstrapArg(testnet), 'qvacd-test', modelId],
    { stdio: ['ignore', 'pipe', 'inherit'] }
  )
  const exited = once(child, 'exit')
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  await once(readline.createInterface({ input: child.stdout! }), 'line')
  const [model] = daemon.models.list()
  t.is(model.activeStreams, 1, 'the child holds the only sequence')
  t.is(daemon.router.streams().length, 1)

  const killed = performance.now()
  child.kill('SIGKILL')
  await exited
  await eventually(
    async () => ({ streams: daemon.router.streams().length, active: daemon.models.list()[0].activeStreams }),
    (s) => s.streams === 0 && s.active === 0,
    60_000
  )
  const freed = performance.now() - killed
  t.pass('no stream left, the sequence is free')
  t.comment(`SIGKILLed client's sequence freed after ${(freed / 1000).toFixed(1)} s (goal ~5 s; 13–18 s before keep-alives)`)
})

test('a client notices a SIGKILLed daemon: its connection closes, the next call fails typed', async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const { child, info } = await startQvacd(t, ['--topic', 'liveness', '--storage', storage, '--bootstrap', bootstrapArg(testnet)])
  const client = await connect({ peer: info.publicKey, bootstrap: testnet.bootstrap })
  t.teardown(() => client.close())
  t.is((await client.ping()).protocolVersion, PROTOCOL_VERSION)
  const transport = await client.ready()
  const lost = once(client, 'disconnect')
  const closed = new Promise((resolve) => transport.rpc.once('close', resolve))

  const killed = performance.now()
  child.kill('SIGKILL')
  await lost
  await closed
  t.pass('the client saw the connection close')
  t.comment(`SIGKILLed daemon noticed by the client after ${((performance.now() - killed) / 1000).toFixed(1)} s (18 s before)`)
  const err = await client.ping({ timeout: 3000 }).catch((e) => e)
  t.ok(err.code === ErrorCode.CONNECT_FAILED || err.code === ErrorCode.REQUEST_TIMEOUT, `the next call: ${err.name}`)
})

test('an idle client stays connected past the idle timeout: both ends keep alive', async (t) => {
  const testnet = await loopbackTestnet(t)
  await startDaemon(t, testnet, { idleTimeoutMs: 2000 })
  const client = await connectClient(t, testnet)
  let dropped = false
  client.on('disconnect', () => (dropped = true))
  await new Promise((resolve) => setTimeout(resolve, 5000))
  t.absent(dropped, 'no disconnect after 5 s of silence')
  t.is((await client.ping()).protocolVersion, PROTOCOL_VERSION)
})

test('a peer outside the allowlist gets CONNECT_REFUSED, not a connect timeout', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet, { allow: [HyperDHT.keyPair().publicKey] })
  for (const target of [{ topic: 'qvacd-test' }, { peer: daemon.publicKey }]) {
    const started = performance.now()
    const err = await connect({ ...target, bootstrap: testnet.bootstrap, connectTimeout: 15_000 }).catch((e) => e)
    t.is(err.code, ErrorCode.CONNECT_REFUSED, err.message)
    t.comment(`refused by ${Object.keys(target)[0]} after ${(performance.now() - started).toFixed(0)} ms (connect timeout 15 s)`)
  }
  t.is(daemon.router.methodStats().reduce((n, m) => n + m.calls, 0), 0, 'no handler ran')
})
