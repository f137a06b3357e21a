import { openDaemon } from './daemon-client.ts'
import { statusToJson, statusToTable } from '../format/status.ts'
import { toOpenMetrics } from '../../client/profiler/openmetrics.ts'

export async function runStatus(opts: {
  storage: string
  peer?: string
  bootstrap?: string
  timeout: number
  json?: boolean
  openmetrics?: boolean
}): Promise<void> {
  const client = await openDaemon(opts)
  try {
    const status = await client.status({ timeout: opts.timeout })
    if (opts.openmetrics) process.stdout.write(toOpenMetrics(status.metrics))
    else process.stdout.write((opts.json ? JSON.stringify(statusToJson(status), null, 2) : statusToTable(status)) + '\n')
  } finally {
    await client.close()
  }
}
