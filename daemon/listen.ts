import type net from 'node:net'

/**
 * Starts a server listening (a unix socket path, or a port on a host) and settles once: listening,
 * or the first error (EADDRINUSE, EACCES) instead of an uncaught 'error' event.
 */
export function listen(server: net.Server, where: string | { port: number; host: string }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(typeof where === 'string' ? { path: where } : where, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
