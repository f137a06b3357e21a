import path from 'node:path'

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i

/**
 * A local path is the caller's: made absolute against this shell's working dir before the daemon
 * (whose working dir is its own) sees it. URIs, and anything sent to a remote daemon, go as typed.
 */
export function sourceArg(source: string, opts: { remote?: boolean } = {}): string {
  if (opts.remote || SCHEME.test(source)) return source
  return path.resolve(source)
}
