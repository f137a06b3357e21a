import { QvacError } from '../../shared/errors.ts'

/** What a fetcher (HTTP, Hyperdrive) hands back once the partial file holds the whole download. */
export interface FetchResult {
  /** SHA-256 (hex) of the whole file, resumed bytes included. */
  sha256: string
  size: number
  bytesDownloaded: number
  bytesResumed: number
  downloadMs: number
  hashMs: number
  /** Non-public addresses the bytes came through (HTTP; none for a drive). */
  via: string[]
}

export interface FetchLimits {
  /** Refuse anything larger (the resolver's `maxBytes`). */
  maxBytes: number
  /** The size a registry entry promised. */
  expectedSize?: number
}

/** Checks a size announced before the transfer (Content-Length, a drive entry). */
export function checkDeclaredSize(total: number | null, limits: FetchLimits, source: string): void {
  if (total === null) return
  if (total > limits.maxBytes) {
    throw new QvacError('SIZE_LIMIT_EXCEEDED', `${source} is ${total} bytes, over the limit of ${limits.maxBytes}`, {
      details: { source, size: total, maxBytes: limits.maxBytes }
    })
  }
  if (limits.expectedSize !== undefined && total !== limits.expectedSize) {
    throw sizeMismatch(source, total, limits.expectedSize)
  }
}

/**
 * Checks the bytes received: while streaming (`partial`) only that nothing overflows; at the end
 * that the count is exactly what was announced and promised.
 */
export function checkFinalSize(bytes: number, total: number | null, limits: FetchLimits, source: string, opts: { partial: boolean }): void {
  if (bytes > limits.maxBytes) {
    throw new QvacError('SIZE_LIMIT_EXCEEDED', `${source} sent more than the limit of ${limits.maxBytes} bytes`, {
      details: { source, maxBytes: limits.maxBytes }
    })
  }
  for (const expected of [total, limits.expectedSize ?? null]) {
    if (expected === null) continue
    if (opts.partial ? bytes > expected : bytes !== expected) throw sizeMismatch(source, bytes, expected)
  }
}

function sizeMismatch(source: string, actual: number, expected: number): QvacError {
  return new QvacError('SIZE_MISMATCH', `${source}: got ${actual} bytes where ${expected} were announced`, {
    details: { source, actual, expected }
  })
}

/** `actual` is left out (null) where the caller may not learn it: a local file it could not read. */
export function checksumMismatch(source: string, expected: string, actual: string | null): QvacError {
  if (actual === null) {
    return new QvacError('CHECKSUM_VALIDATION_FAILED', `SHA-256 of ${source} is not the expected ${expected}`, {
      details: { source, expected }
    })
  }
  return new QvacError('CHECKSUM_VALIDATION_FAILED', `SHA-256 of ${source} is ${actual}, expected ${expected}`, {
    details: { source, expected, actual }
  })
}
