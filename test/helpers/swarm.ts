import createTestnet, { type Testnet } from 'hyperdht/testnet.js'
import type { Assertion } from 'brittle'
import { Daemon, type DaemonOptions } from '../../daemon/index.ts'
import { connect, type ConnectOptions, type QvacClient } from '../../client/index.ts'

/** A 5-node DHT on 127.0.0.1 (fewer nodes made first connects hang, STACK.md), torn down last. */
export async function loopbackTestnet(t: Assertion): Promise<Testnet> {
  const testnet = await createTestnet(5, { host: '127.0.0.1' })
  t.teardown(() => testnet.destroy(), { order: Infinity })
  return testnet
}

export async function startDaemon(
  t: Assertion,
  testnet: Testnet,
  opts: Partial<DaemonOptions> = {}
): Promise<Daemon> {
  const daemon = new Daemon({
    topic: 'qvacd-test',
    storage: opts.storage ?? (await t.tmp()),
    bootstrap: testnet.bootstrap,
    ...opts
  })
  t.teardown(() => daemon.close())
  await daemon.ready()
  return daemon
}

export async function connectClient(
  t: Assertion,
  testnet: Testnet,
  opts: Partial<ConnectOptions> = {}
): Promise<QvacClient> {
  const client = await connect({ topic: opts.peer ? undefined : 'qvacd-test', bootstrap: testnet.bootstrap, ...opts })
  t.teardown(() => client.close())
  return client
}
