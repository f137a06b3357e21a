import pkg from '../package.json' with { type: 'json' }

/**
 * The daemon's dependencies are optional peers (a client-only install stays small): when a command
 * needs one that is missing, say what to install instead of printing a module-resolution stack.
 */
export function missingDependencyMessage(err: unknown): string | null {
  if (!(err instanceof Error) || (err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') return null
  const missing = /Cannot find package '([^']+)'/.exec(err.message)?.[1]
  const peers: Record<string, string> = pkg.peerDependencies
  if (!missing || !(missing in peers)) return null
  const all = Object.entries(peers).filter(([name]) => name !== '@grpc/grpc-js').map(([name, range]) => `${name}@${range}`)
  return `this command needs ${missing}, one of the daemon's dependencies (a client-only install leaves them out): npm install ${all.join(' ')} (MISSING_DEPENDENCY)`
}
