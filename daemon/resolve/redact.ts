import { QvacError, type ErrorDetails, type ErrorName } from '../../shared/errors.ts'

/**
 * The error a remote peer gets: the same code, with the daemon's own directories (storage, models
 * dir, home, working dir) cut out of the message and details, and no cause. A last guard: the
 * resolver already words its errors for remote callers; this catches what other layers (the
 * inference backend) put in theirs.
 */
export function redactForRemote(err: unknown, localDirs: string[]): unknown {
  if (!(err instanceof QvacError)) return err
  const dirs = [...new Set(localDirs)].filter((dir) => dir.length > 1).sort((a, b) => b.length - a.length)
  if (dirs.length === 0) return err
  // A directory only where a path starts, so a URL that happens to contain "/tmp" stays intact.
  const pattern = new RegExp(`(?<![\\w.~-])(?:${dirs.map(escapeRegExp).join('|')})(?=[/\\\\\\s'"),:;]|$)`, 'g')
  const scrub = (text: string) => text.replace(pattern, '<local>')
  let details: ErrorDetails | undefined
  if (err.details) {
    details = {}
    for (const [key, value] of Object.entries(err.details)) details[key] = typeof value === 'string' ? scrub(value) : value
  }
  return new QvacError(err.name as ErrorName, scrub(err.message), { details })
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
