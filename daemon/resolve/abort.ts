import { QvacError } from '../../shared/errors.ts'

/**
 * The error for an aborted resolve: the signal's reason when it is already a QvacError (the RPC
 * router aborts with REQUEST_TIMEOUT at a deadline), REQUEST_ABORTED otherwise.
 */
export function abortError(signal: AbortSignal): QvacError {
  if (signal.reason instanceof QvacError) return signal.reason
  return new QvacError('REQUEST_ABORTED', 'the download was aborted; what arrived is kept for a resume where the source allows one', {
    cause: signal.reason
  })
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal)
}

/** Settles with `work`, or rejects at once when the signal aborts (the work is left to its own end). */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work
  if (signal.aborted) {
    work.catch(() => {})
    return Promise.reject(abortError(signal))
  }
  return new Promise<T>((resolve, reject) => {
    const onabort = () => reject(abortError(signal))
    signal.addEventListener('abort', onabort, { once: true })
    work.then(
      (value) => {
        signal.removeEventListener('abort', onabort)
        resolve(value)
      },
      (err) => {
        signal.removeEventListener('abort', onabort)
        reject(err)
      }
    )
  })
}
