import createTestnet from 'hyperdht/testnet.js'

/**
 * A DHT of its own on 127.0.0.1 for local work: start this, then hand the printed address to
 * `qvacd start --bootstrap` and to clients. Five nodes: a lone bootstrapper makes first connects
 * hang (STACK.md).
 */
export async function runTestnet(opts: { nodes: number; port: number; json?: boolean }): Promise<void> {
  const testnet = await createTestnet(opts.nodes, { host: '127.0.0.1', port: opts.port })
  const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  process.stdout.write(
    opts.json
      ? JSON.stringify({ bootstrap, nodes: testnet.nodes.length }) + '\n'
      : `loopback DHT testnet of ${testnet.nodes.length} nodes; bootstrap: ${bootstrap}\n` +
          `  use: qvacd start --topic NAME --bootstrap ${bootstrap}\n`
  )
  const stop = () => testnet.destroy().then(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
