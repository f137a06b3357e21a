import dgram from 'node:dgram'
import createTestnet from 'hyperdht/testnet.js'
import { QvacError } from '../../shared/errors.ts'

/**
 * A DHT of its own on 127.0.0.1 for local work: start this, then hand the printed address to
 * `qvacd start --bootstrap` and to clients. Five nodes: a lone bootstrapper makes first connects
 * hang (STACK.md). `--port N` gets N or fails (the DHT itself would quietly take another port, and a
 * reader following the README would join someone else's DHT); `--port 0` picks a free one.
 */
export async function runTestnet(opts: { nodes: number; port: number; json?: boolean }): Promise<void> {
  const port = opts.port === 0 ? await freeUdpPort() : opts.port
  if (opts.port !== 0) await assertUdpPortFree(port)
  const testnet = await createTestnet(opts.nodes, { host: '127.0.0.1', port })
  if (testnet.bootstrap[0]?.port !== port) {
    await testnet.destroy()
    throw portTaken(port)
  }
  // Before the address is printed: whoever reads it may stop this at once (seen: a SIGTERM that
  // beat the handlers by a time slice killed the process instead of stopping it).
  const stop = () => testnet.destroy().then(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  process.stdout.write(
    opts.json
      ? JSON.stringify({ bootstrap, port, nodes: testnet.nodes.length }) + '\n'
      : `loopback DHT testnet of ${testnet.nodes.length} nodes; bootstrap: ${bootstrap}\n` +
          `  use: qvacd start --topic NAME --bootstrap ${bootstrap}\n`
  )
}

function portTaken(port: number): QvacError {
  return new QvacError('INVALID_ARGUMENT', `UDP port ${port} on 127.0.0.1 is in use: choose another, or --port 0 to pick a free one`, {
    details: { port }
  })
}

function bindUdp(port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4')
    socket.once('error', (err) => {
      socket.close()
      reject(err)
    })
    socket.bind(port, '127.0.0.1', () => resolve(socket))
  })
}

async function assertUdpPortFree(port: number): Promise<void> {
  try {
    const socket = await bindUdp(port)
    await new Promise<void>((resolve) => socket.close(() => resolve()))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw portTaken(port)
    throw err
  }
}

async function freeUdpPort(): Promise<number> {
  const socket = await bindUdp(0)
  const { port } = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}
