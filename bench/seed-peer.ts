// Child process that serves one file two ways: from a Hyperdrive on the loopback swarm and over
// HTTP on 127.0.0.1, in its own process so the fetching side has its thread to itself.
import { createReadStream } from 'node:fs'
import fs from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import Hyperswarm from 'hyperswarm'
import { publishFile } from '../daemon/resolve/publish.ts'
import { createDht, parseBootstrap } from '../client/dht.ts'

const [bootstrap, file] = process.argv.slice(2)
const storage = await fs.mkdtemp(path.join(os.tmpdir(), 'qvacd-bench-seed-'))
const store = new Corestore(path.join(storage, 'corestore'))
await store.ready()
const swarm = new Hyperswarm({ dht: createDht({ bootstrap: parseBootstrap(bootstrap) }) })
swarm.on('connection', (conn) => store.replicate(conn))
const published = await publishFile({ store, file })
// Held open while seeding: publishFile closes its drive, and with no session left the store drops
// the blobs core's replication mid-transfer (a 230 MB fetch failed with "every seeder left").
const drive = new Hyperdrive(store.session(), published.key)
await drive.ready()
await drive.getBlobs()
await swarm.join(published.discoveryKey, { server: true, client: false }).flushed()
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': published.size })
  createReadStream(file).pipe(res)
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${path.basename(file)}`
process.stdout.write(JSON.stringify({ uri: published.uri, httpUrl, sha256: published.sha256, size: published.size }) + '\n')

process.once('SIGTERM', async () => {
  server.close()
  await swarm.destroy()
  await drive.close()
  await store.close()
  await fs.rm(storage, { recursive: true, force: true })
  process.exit(0)
})
