import test from 'brittle'
import { PROTOCOL_VERSION } from '../shared/version.ts'
import { once } from 'node:events'
import c from 'compact-encoding'
import HyperDHT from 'hyperdht'
import { loopbackTestnet, startDaemon, connectClient } from './helpers/swarm.ts'
import { connect, ErrorCode, QvacError } from '../client/index.ts'
import { responseFrame } from '../shared/messages.ts'

test('a handler QvacError reaches the client as the same class, code, message and details', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet)
  // Fault injection: no issue-3 method fails by itself with a domain error.
  daemon.router.handle('status', () => {
    throw new QvacError('MODEL_NOT_FOUND', 'no model named tiny', { details: { name: 'tiny', tried: 2 } })
  })
  const client = await connectClient(t, testnet)

  const err = await client.status().catch((e) => e)
  t.ok(err instanceof QvacError, 'instanceof QvacError')
  t.is(err.code, ErrorCode.MODEL_NOT_FOUND)
  t.is(err.name, 'MODEL_NOT_FOUND')
  t.is(err.message, 'no model named tiny')
  t.alike(err.details, { name: 'tiny', tried: 2 })
})

test('an unexpected error is INTERNAL_ERROR without the stack, and the daemon keeps serving', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet)
  daemon.router.handle('status', () => {
    // A real bug, the kind protomux-rpc would rethrow as an uncaught exception.
    return (undefined as unknown as { field: { deeper: never } }).field.deeper
  })
  const client = await connectClient(t, testnet)
  const other = await connectClient(t, testnet)

  const err = await client.status().catch((e) => e)
  t.is(err.code, ErrorCode.INTERNAL_ERROR)
  t.absent(/TypeError|undefined/.test(err.message), 'no internals in the message')
  t.absent(String(err.stack).includes('[remote]'), 'no remote stack')
  t.is((await client.ping()).protocolVersion, PROTOCOL_VERSION, 'same client still served')
  t.is((await other.ping()).protocolVersion, PROTOCOL_VERSION, 'other clients unaffected')
})

test('with exposeErrors on, an unexpected error carries its message and the remote stack', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet, { exposeErrors: true })
  daemon.router.handle('status', () => {
    throw new RangeError('index 9 out of range')
  })
  const client = await connectClient(t, testnet)
  const err = await client.status().catch((e) => e)
  t.is(err.code, ErrorCode.INTERNAL_ERROR)
  t.ok(err.message.includes('index 9 out of range'))
  t.ok(String(err.stack).includes('[remote] RangeError'))
})

test('malformed requests and unknown methods get typed errors; the daemon survives', async (t) => {
  const testnet = await loopbackTestnet(t)
  await startDaemon(t, testnet)
  const client = await connectClient(t, testnet)
  const { rpc } = await client.ready()
  const raw = { requestEncoding: c.raw, responseEncoding: c.raw }

  const garbage = await rpc.request<Buffer>('ping', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), raw)
  const decoded = c.decode(responseFrame(c.none), garbage)
  t.is(decoded.ok, false)
  if (!decoded.ok) {
    t.is(decoded.error.code, ErrorCode.INVALID_REQUEST)
    t.is(decoded.error.details?.method, 'ping')
  }

  const unknown = await rpc.request<{ code?: string }>('no-such-method', Buffer.alloc(0), raw).catch((e) => e)
  t.is(unknown.code, 'UNKNOWN_METHOD', 'protomux-rpc answers an unknown method itself')

  t.is((await client.ping()).protocolVersion, PROTOCOL_VERSION, 'still serving')
})

test('a protocol version mismatch is a clear error on both sides, not a hang', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet)
  const daemonSaw = once(daemon, 'protocol-mismatch')

  const err = await connect({ topic: 'qvacd-test', bootstrap: testnet.bootstrap, protocolVersion: PROTOCOL_VERSION + 1 }).catch((e) => e)
  t.is(err.code, ErrorCode.PROTOCOL_VERSION_MISMATCH)
  t.ok(new RegExp(`speaks ${PROTOCOL_VERSION + 1}.*speaks ${PROTOCOL_VERSION}`).test(err.message), err.message)
  t.alike([err.details.localVersion, err.details.remoteVersion], [PROTOCOL_VERSION + 1, PROTOCOL_VERSION])

  const [, daemonErr] = await daemonSaw
  t.is(daemonErr.code, ErrorCode.PROTOCOL_VERSION_MISMATCH, 'the daemon refused it too')
  t.is((await daemon.router.methodStats()).reduce((n, m) => n + m.calls, 0), 0, 'no handler ran')
})

test('a non-empty allowlist refuses other peers before any handler runs', async (t) => {
  const testnet = await loopbackTestnet(t)
  const allowed = HyperDHT.keyPair()
  const daemon = await startDaemon(t, testnet, { allow: [allowed.publicKey] })
  const refused = once(daemon, 'peer-refused')

  const err = await connect({ topic: 'qvacd-test', bootstrap: testnet.bootstrap, connectTimeout: 3000 }).catch((e) => e)
  t.is(err.code, ErrorCode.CONNECT_REFUSED, err.message)
  await refused
  t.is(daemon.router.methodStats().reduce((n, m) => n + m.calls, 0), 0, 'no handler ran for the stranger')

  const friend = await connectClient(t, testnet, { keyPair: allowed })
  t.is((await friend.ping()).protocolVersion, PROTOCOL_VERSION, 'the allowed key is served')
})

test('shutdown ends in-flight calls with DAEMON_SHUTTING_DOWN', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = await startDaemon(t, testnet)
  let started: () => void = () => {}
  const handlerStarted = new Promise<void>((resolve) => (started = resolve))
  daemon.router.handle('ping', () => {
    started()
    return new Promise(() => {})
  })
  const client = await connectClient(t, testnet)

  const pending = client.ping().catch((e) => e)
  await handlerStarted
  const closing = daemon.close()
  const err = await pending
  t.is(err.code, ErrorCode.DAEMON_SHUTTING_DOWN, err.message)
  await closing
})
