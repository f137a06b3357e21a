import { QvacError } from '../../shared/errors.ts'

/** One clear line on stderr and a non-zero exit; a stack only for what is not a QvacError. */
export function fail(err: unknown): never {
  if (err instanceof QvacError) {
    process.stderr.write(`qvacd: ${err.message} (${err.name})\n`)
  } else {
    process.stderr.write(`qvacd: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  }
  process.exit(1)
}
