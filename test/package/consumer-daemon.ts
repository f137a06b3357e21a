// A strict TypeScript consumer embedding a daemon: checks once the daemon's optional peer
// dependencies are installed beside the package.
import { Daemon, type DaemonOptions, type Logger } from 'qvacd/daemon'
import { connectLocal, type QvacClient } from 'qvacd'

export async function embedded(storage: string, log: Logger): Promise<QvacClient> {
  const opts: DaemonOptions = { topic: 'embedded', storage, log, bootstrap: [{ host: '127.0.0.1', port: 49737 }] }
  const daemon = new Daemon(opts)
  await daemon.ready()
  return connectLocal({ storage: daemon.storage })
}
