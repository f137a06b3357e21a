import type { QvacClient } from '../../client/qvac-client.ts'
import { connectLocal } from '../../client/connect-local.ts'
import { explainConnectFailure } from '../format/connect-error.ts'

/** How a command reaches a daemon: the local one (control socket), or one on the swarm by key or topic. */
export interface DaemonTarget {
  storage: string
  peer?: string
  topic?: string
  bootstrap?: string
  timeout?: number
}

export async function openDaemon(opts: DaemonTarget): Promise<QvacClient> {
  if (!opts.peer && !opts.topic) return connectLocal({ storage: opts.storage, timeout: opts.timeout })
  try {
    // Loaded only for the swarm: hyperdht and sodium are most of a local command's start-up.
    const { connect } = await import('../../client/connect-swarm.ts')
    return await connect({ peer: opts.peer, topic: opts.peer ? undefined : opts.topic, bootstrap: opts.bootstrap, connectTimeout: opts.timeout })
  } catch (err) {
    throw explainConnectFailure(err, opts)
  }
}
