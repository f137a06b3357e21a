import test from 'brittle'
import { PassThrough } from 'node:stream'
import { consoleLogger } from '../daemon/index.ts'
import { formatKey } from '../client/index.ts'
import { loopbackTestnet, startDaemon, connectClient } from './helpers/swarm.ts'

/** A JSON logger into memory: the lines `qvacd start` would write when stderr is not a terminal. */
function captured(level: 'info' | 'debug') {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (d) => (text += d))
  const lines = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  return { log: consoleLogger({ level, pretty: false, stream }), lines }
}

test('at debug, one JSON line per call from a child logger carrying peer and method', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { log, lines } = captured('debug')
  const daemon = await startDaemon(t, testnet, { log })
  const client = await connectClient(t, testnet)
  await client.ping()
  const calls = lines().filter((l) => l.msg === 'call' && l.method === 'ping')
  t.is(calls.length, 1, 'one line for one call')
  t.is(calls[0].level, 20, 'at debug')
  t.is(typeof calls[0].ms, 'number')
  t.is(String(calls[0].peer).length, 52, 'a z32 key')
  t.not(calls[0].peer, formatKey(daemon.publicKey), "the caller's key, not the daemon's")
})

test('at info, no per-call lines; levels and fields as pino writes them', async (t) => {
  const testnet = await loopbackTestnet(t)
  const { log, lines } = captured('info')
  await startDaemon(t, testnet, { log })
  const client = await connectClient(t, testnet)
  await client.ping()
  t.absent(lines().some((l) => l.msg === 'call'), 'calls are not logged at info')
  log.child({ peer: 'p' }).warn('careful', { n: 1 })
  log.error('failed', new Error('boom'))
  const [warn, error] = lines().slice(-2)
  t.alike([warn.level, warn.peer, warn.n, warn.msg], [40, 'p', 1, 'careful'])
  t.is((error.err as { message: string }).message, 'boom')
})
