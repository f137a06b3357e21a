import { QvacError } from '../../shared/errors.ts'
import { missingDependencyMessage } from '../missing-dependency.ts'

/**
 * One clear line on stderr and a non-zero exit (2 for a usage error, as commander's own); a stack
 * only for what is not a QvacError.
 */
export function fail(err: unknown): never {
  if (err instanceof QvacError) {
    process.stderr.write(`qvacd: ${err.message} (${err.name})\n`)
    process.exit(err.name === 'INVALID_ARGUMENT' ? 2 : 1)
  }
  const missing = missingDependencyMessage(err)
  if (missing) {
    process.stderr.write(`qvacd: ${missing}\n`)
    process.exit(1)
  }
  process.stderr.write(`qvacd: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
}
