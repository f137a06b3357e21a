// Child process of the rpc scenario: a qvacd Daemon plus a bare protomux-rpc echo channel on each
// of its swarm connections, so `ping` and the echo share one connection and one process.
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import ProtomuxRPC from 'protomux-rpc'
import { Daemon } from '../daemon/index.ts'
import { parseBootstrap } from '../client/dht.ts'
import { formatKey } from '../shared/keys.ts'
import { ECHO_PROTOCOL } from './protocols.ts'

const bootstrap = process.argv[2]
const storage = await fs.mkdtemp(path.join(os.tmpdir(), 'qvacd-bench-rpc-'))
const daemon = new Daemon({ topic: 'qvacd-bench-rpc', storage, bootstrap: parseBootstrap(bootstrap) })
await daemon.ready()
// The echo channel is created when the client opens it (Protomux rejects a channel the other side
// has not created yet); the qvac/rpc channel's Protomux sits in the stream's userData.
daemon.host?.swarm.on('connection', (conn) => {
  const mux = conn.userData as { pair(opts: { protocol: string }, notify: () => void): void }
  mux.pair({ protocol: ECHO_PROTOCOL }, () => {
    new ProtomuxRPC(conn, { protocol: ECHO_PROTOCOL }).respond('echo', {}, (value) => value)
  })
})
process.stdout.write(JSON.stringify({ publicKey: formatKey(daemon.publicKey) }) + '\n')

const stop = async () => {
  await daemon.close()
  await fs.rm(storage, { recursive: true, force: true })
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
