import test, { type Assertion } from 'brittle'
import fs from 'node:fs'
import http from 'node:http'
import { Daemon } from '../daemon/index.ts'
import { MetricsServer } from '../daemon/metrics-server.ts'
import { Profiler } from '../client/profiler/profiler.ts'
import { connectLocal } from '../client/index.ts'
import { controlSocketPath } from '../shared/control-path.ts'
import type { BootstrapNode } from 'hyperdht'
import { loopbackTestnet } from './helpers/swarm.ts'

function daemonOn(t: Assertion, bootstrap: BootstrapNode[], storage: string): Daemon {
  const daemon = new Daemon({ topic: 'qvacd-lifecycle', storage, bootstrap })
  t.teardown(() => daemon.close())
  return daemon
}

test('a second ready() waits for the first and leaves the daemon serving', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = daemonOn(t, testnet.bootstrap, await t.tmp())
  const first = daemon.ready()
  const second = daemon.ready()
  await Promise.all([first, second])
  await daemon.ready()
  t.ok(daemon.opened && !daemon.closing, 'still open: it did not meet its own control socket')
  const client = await connectLocal({ storage: daemon.storage })
  t.teardown(() => client.close())
  const status = await client.status()
  t.alike(status.publicKey, daemon.publicKey, 'the control socket answers for this daemon')
})

test('close() during ready() waits for it, then closes everything', async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const daemon = daemonOn(t, testnet.bootstrap, storage)
  const ready = daemon.ready()
  const closed = daemon.close()
  await ready
  await closed
  t.ok(daemon.closed)
  t.absent(fs.existsSync(controlSocketPath(daemon.storage)), 'control socket removed')
  const next = daemonOn(t, testnet.bootstrap, storage)
  await next.ready()
  t.ok(next.opened, 'the storage dir is free for the next daemon (store and socket released)')
})

test('a second close() waits for the first; ready() after close() does not reopen', async (t) => {
  const testnet = await loopbackTestnet(t)
  const daemon = daemonOn(t, testnet.bootstrap, await t.tmp())
  await daemon.ready()
  const first = daemon.close()
  const second = daemon.close()
  t.is(first, second, 'one close')
  await Promise.all([first, second])
  await daemon.close()
  await daemon.ready()
  t.ok(daemon.closed)
  t.absent(fs.existsSync(controlSocketPath(daemon.storage)))
})

test('metrics server: double ready() keeps its port, close() during ready() and double close() are safe', async (t) => {
  const server = new MetricsServer({ port: 0, metrics: new Profiler() })
  await Promise.all([server.ready(), server.ready()])
  const port = server.port
  t.ok(port > 0)
  const body = await new Promise<number>((resolve, reject) =>
    http.get(`http://127.0.0.1:${port}/metrics`, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    }).on('error', reject)
  )
  t.is(body, 200)
  await Promise.all([server.close(), server.close()])
  t.ok(server.closed)

  const racing = new MetricsServer({ port: 0, metrics: new Profiler() })
  const opening = racing.ready()
  await racing.close()
  await opening
  t.ok(racing.closed, 'closed after its ready() finished')
  await t.exception(
    new Promise((resolve, reject) => http.get(`http://127.0.0.1:${racing.port}/metrics`, resolve).on('error', reject)),
    'nothing listens after close()'
  )
})
