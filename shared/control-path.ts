import path from 'node:path'
import { QvacError } from './errors.ts'

// sockaddr_un holds 108 bytes with the terminating NUL.
const MAX_SOCKET_PATH = 107

/** The local control endpoint of the daemon that owns a storage dir. */
export function controlSocketPath(storage: string): string {
  const socketPath = path.join(path.resolve(storage), 'qvacd.sock')
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new QvacError('INVALID_ARGUMENT', `storage dir path too long for a control socket (max ${MAX_SOCKET_PATH - 10} bytes)`, {
      details: { socketPath }
    })
  }
  return socketPath
}
