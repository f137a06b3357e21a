import { openDaemon } from './daemon-client.ts'
import { statusToJson, statusToTable, topicStatusToJson, topicStatusToTable } from '../format/status.ts'
import { toOpenMetrics } from '../../client/profiler/openmetrics.ts'

export async function runStatus(opts: {
  storage: string
  peer?: string
  topic?: string
  bootstrap?: string
  timeout: number
  json?: boolean
  openmetrics?: boolean
}): Promise<void> {
  if (opts.topic !== undefined) {
    // Loaded only for the swarm: hyperdht and sodium are most of a local status's start-up.
    const { topicStatus } = await import('../../client/topic/topic-status.ts')
    const { parseBootstrap } = await import('../../client/dht.ts')
    const bootstrap = opts.bootstrap === undefined ? undefined : parseBootstrap(opts.bootstrap)
    const started = performance.now()
    const daemons = await topicStatus({ topic: opts.topic, bootstrap, timeoutMs: opts.timeout })
    const answeredInMs = performance.now() - started
    process.stdout.write((opts.json ? JSON.stringify(topicStatusToJson(opts.topic, daemons, answeredInMs), null, 2) : topicStatusToTable(opts.topic, daemons)) + '\n')
    return
  }
  const client = await openDaemon(opts)
  try {
    const status = await client.status({ timeout: opts.timeout })
    if (opts.openmetrics) process.stdout.write(toOpenMetrics(status.metrics))
    else process.stdout.write((opts.json ? JSON.stringify(statusToJson(status), null, 2) : statusToTable(status)) + '\n')
  } finally {
    await client.close()
  }
}
