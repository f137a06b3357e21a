import { connect, connectLocal, type QvacClient } from '../../client/index.ts'
import { Gateway } from '../../gateway/server.ts'
import { parseModelFlag } from '../../gateway/model-table.ts'

/** `qvacd gateway`: the OpenAI-compatible HTTP API in front of a daemon (local, by key or by topic). */
export async function runGateway(opts: {
  topic?: string
  peer?: string
  bootstrap?: string
  storage: string
  host: string
  port: number
  apiKey?: string
  model: string[]
  timeout?: number
  json?: boolean
}): Promise<void> {
  const models = opts.model.map(parseModelFlag)
  const client: QvacClient =
    opts.topic || opts.peer
      ? await connect({ topic: opts.topic, peer: opts.peer, bootstrap: opts.bootstrap })
      : await connectLocal({ storage: opts.storage })
  let gateway: Gateway
  try {
    gateway = new Gateway({ client, models, host: opts.host, port: opts.port, apiKey: opts.apiKey, timeout: opts.timeout })
    await gateway.listen()
  } catch (err) {
    await client.close()
    throw err
  }
  const stop = () => {
    void gateway
      .close()
      .then(() => client.close())
      .finally(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)

  const info = { url: `${gateway.url}/v1`, models: models.map((m) => m.name), daemon: opts.topic ? `topic ${opts.topic}` : opts.peer ? `peer ${opts.peer}` : `local (${opts.storage})` }
  if (opts.json) process.stdout.write(JSON.stringify(info) + '\n')
  else {
    process.stdout.write(`qvacd gateway: OpenAI-compatible API at ${info.url} → ${info.daemon}\n`)
    if (info.models.length > 0) process.stdout.write(`models: ${info.models.join(', ')}\n`)
  }
}
