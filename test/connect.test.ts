import test from 'brittle'
import { once } from 'node:events'
import b4a from 'b4a'
import { loopbackTestnet, startDaemon, connectClient } from './helpers/swarm.ts'
import { connect, ErrorCode, formatKey, type QvacError } from '../client/index.ts'
import { PROTOCOL_VERSION, SOFTWARE_VERSION } from '../shared/version.ts'

test('a client finds a daemon by topic over the swarm and pings it', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet)
  const client = await connectClient(t, testnet)

  const before = Date.now()
  const pong = await client.ping()
  t.is(pong.version, SOFTWARE_VERSION)
  t.is(pong.protocolVersion, PROTOCOL_VERSION)
  t.ok(pong.time >= before - 1000 && pong.time <= Date.now() + 1000, 'daemon clock is the same machine clock')

  const transport = await client.ready()
  t.ok(transport.remotePublicKey && b4a.equals(transport.remotePublicKey, daemon.publicKey), 'connected to that daemon')
})

test('status reports key, topic, version, peers, models and in-flight calls', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet, { topic: 'status-topic' })
  const client = await connectClient(t, testnet, { topic: 'status-topic' })
  await client.ping()
  await client.ping()

  const status = await client.status()
  t.alike(status.publicKey, daemon.publicKey)
  t.alike(status.topic, daemon.topic)
  t.is(status.topicName, 'status-topic')
  t.is(status.version, SOFTWARE_VERSION)
  t.ok(status.uptimeMs >= 0 && status.uptimeMs < 60_000)
  t.is(status.peers.length, 1, 'one peer: this client')
  t.is(status.peers[0].calls, 3, 'two pings and this status')
  t.is(status.peers[0].inFlight, 0, 'the status call itself is not counted')
  t.is(status.inFlight, 0)
  t.alike(status.models, [])
  t.alike(
    status.methods.find((m) => m.method === 'ping'),
    { method: 'ping', calls: 2, errors: 0 }
  )
})

test('with several daemons on a topic the first connected is used, and peer names one', async (t) => {
  const testnet = await loopbackTestnet(t)
  const a = await startDaemon(t, testnet)
  const b = await startDaemon(t, testnet)

  const any = await connectClient(t, testnet)
  const reached = (await any.status()).publicKey
  t.ok(b4a.equals(reached, a.publicKey) || b4a.equals(reached, b.publicKey), 'reached one of the two')

  for (const daemon of [a, b]) {
    const named = await connectClient(t, testnet, { peer: formatKey(daemon.publicKey) })
    t.alike((await named.status()).publicKey, daemon.publicKey, 'peer picks exactly that daemon')
  }
})

test('a daemon keeps its key across restarts and the client reconnects for the next call', async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const first = await startDaemon(t, testnet, { storage })
  const key = first.publicKey
  const client = await connectClient(t, testnet)
  await client.ping()

  const disconnected = once(client, 'disconnect')
  await first.close()
  await disconnected
  await t.exception(client.ping({ timeout: 1000 }), /./, 'no daemon: the call fails')

  const second = await startDaemon(t, testnet, { storage })
  t.alike(second.publicKey, key, 'same public key after restart')
  const pong = await client.ping({ timeout: 15_000 })
  t.is(pong.protocolVersion, PROTOCOL_VERSION, 'next call succeeds on a new connection')
  t.alike((await client.status()).publicKey, key)
})

test('a dropped connection fails in-flight calls with CONNECTION_LOST, stops their work and is re-established', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet)
  const signals: AbortSignal[] = []
  let entered: () => void
  const handlerEntered = new Promise<void>((resolve) => (entered = resolve))
  // Fault injection: a handler that would run forever.
  daemon.router.handle('ping', (_body, ctx) => {
    signals.push(ctx.signal)
    entered()
    return new Promise(() => {})
  })
  const client = await connectClient(t, testnet)

  const transport = await client.ready()
  const pending = client.ping()
  await handlerEntered
  transport.rpc.stream.destroy()
  try {
    await pending
    t.fail('should have failed')
  } catch (err) {
    t.is((err as QvacError).code, ErrorCode.CONNECTION_LOST)
  }

  const status = await client.status({ timeout: 15_000 })
  t.alike(status.publicKey, daemon.publicKey, 'reconnected')
  t.ok(signals[0].aborted, "the daemon stopped the lost caller's work")
  t.is(status.inFlight, 0, 'nothing left in flight')
})

test('per-call timeout and abort give distinct codes', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet)
  const seen: AbortSignal[] = []
  // Fault injection: a handler slower than the caller's deadline.
  daemon.router.handle('ping', (_body, ctx) => {
    seen.push(ctx.signal)
    return new Promise(() => {})
  })
  const client = await connectClient(t, testnet)

  const timeout = await client.ping({ timeout: 300 }).catch((err) => err)
  t.is(timeout.code, ErrorCode.REQUEST_TIMEOUT)
  t.is(timeout.name, 'REQUEST_TIMEOUT')

  const controller = new AbortController()
  setTimeout(() => controller.abort(), 100)
  const aborted = await client.ping({ signal: controller.signal }).catch((err) => err)
  t.is(aborted.code, ErrorCode.REQUEST_ABORTED)

  const already = await client.ping({ signal: AbortSignal.abort() }).catch((err) => err)
  t.is(already.code, ErrorCode.REQUEST_ABORTED, 'an already aborted signal fails at once')

  await new Promise((resolve) => setTimeout(resolve, 200))
  t.ok(seen[0].aborted, 'the daemon enforced the forwarded deadline too')
  t.is((seen[0].reason as QvacError).code, ErrorCode.REQUEST_TIMEOUT)
  t.alike((await client.status()).publicKey, daemon.publicKey, 'the connection still serves')
})

test('a connect timeout that is not a finite number fails at once instead of retrying forever', async (t) => {
  const testnet = await loopbackTestnet(t)
  for (const connectTimeout of [NaN, Infinity, -1]) {
    await t.exception(connect({ topic: 'qvacd-test', bootstrap: testnet.bootstrap, connectTimeout }), /INVALID_ARGUMENT|finite number/, String(connectTimeout))
  }
})
