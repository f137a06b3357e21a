import type { Assertion } from 'brittle'
import type { Testnet } from 'hyperdht/testnet.js'
import { connect, formatKey, type QvacClient } from '../../client/index.ts'
import type { TopicClient } from '../../client/topic/topic-client.ts'
import type { Daemon, DaemonOptions } from '../../daemon/index.ts'
import { startDaemon } from './swarm.ts'
import { eventually } from './model.ts'

/** A client over a topic, closed at teardown. */
export async function topicClient(t: Assertion, testnet: Testnet, topic: string): Promise<TopicClient> {
  const client = (await connect({ topic, bootstrap: testnet.bootstrap })) as TopicClient
  t.teardown(() => client.close())
  return client
}

/** A client of exactly one daemon, closed at teardown. */
export async function peerClient(t: Assertion, testnet: Testnet, key: Buffer | string): Promise<QvacClient> {
  const client = await connect({ peer: typeof key === 'string' ? key : formatKey(key), bootstrap: testnet.bootstrap })
  t.teardown(() => client.close())
  return client
}

/** `n` in-process daemons on `topic`. */
export async function daemons(t: Assertion, testnet: Testnet, topic: string, n: number, opts: Partial<DaemonOptions> = {}): Promise<Daemon[]> {
  return Promise.all(Array.from({ length: n }, () => startDaemon(t, testnet, { topic, ...opts })))
}

/** Waits until the topic client is connected to `n` daemons and has heard from each. */
export async function seesAll(client: TopicClient, n: number, check: (client: TopicClient) => boolean = () => true): Promise<void> {
  await eventually(
    async () => client.daemons.connected().filter((m) => m.load !== null).length,
    (count) => count === n && check(client),
    20_000
  )
}
