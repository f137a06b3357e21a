import { QvacError } from '../shared/errors.ts'

/** Per-call options every client method takes. */
export interface CallOptions {
  /** Milliseconds for the whole call, connecting included; also enforced by the daemon. */
  timeout?: number
  signal?: AbortSignal
  /** Ask for the profiling envelope (`__profiling` on the result, `__profilingTrailer` on a stream's trailer); default: whether the client's profiler is enabled. */
  profiling?: boolean
  /** Drop the current connection and make a new one for this call. */
  forceNewConnection?: boolean
  /** Set by a delegating daemon: the trace this call belongs to and its hop. */
  traceId?: string
  hop?: number
}

/**
 * One call's deadline and abort signal as a single guard: `run(promise)` settles with the promise,
 * or rejects with REQUEST_TIMEOUT / REQUEST_ABORTED, whichever comes first.
 */
export class CallGuard {
  readonly deadline: number | undefined
  private readonly signal: AbortSignal | undefined

  constructor(opts: CallOptions = {}) {
    if (opts.timeout !== undefined && !(opts.timeout > 0)) {
      throw new QvacError('INVALID_ARGUMENT', `timeout must be a positive number of ms, got ${opts.timeout}`)
    }
    this.deadline = opts.timeout === undefined ? undefined : Date.now() + opts.timeout
    this.signal = opts.signal
  }

  /** Milliseconds left, at least 1, or undefined without a timeout. */
  remaining(): number | undefined {
    return this.deadline === undefined ? undefined : Math.max(1, this.deadline - Date.now())
  }

  check(): void {
    if (this.signal?.aborted) throw abortedError(this.signal)
    if (this.deadline !== undefined && Date.now() >= this.deadline) throw timeoutError(this.deadline)
  }

  run<T>(promise: Promise<T>): Promise<T> {
    this.check()
    if (this.deadline === undefined && this.signal === undefined) return promise
    return new Promise<T>((resolve, reject) => {
      const timer =
        this.deadline === undefined
          ? null
          : setTimeout(() => settle(() => reject(timeoutError(this.deadline as number))), this.deadline - Date.now())
      const onabort = () => settle(() => reject(abortedError(this.signal as AbortSignal)))
      this.signal?.addEventListener('abort', onabort, { once: true })
      const settle = (fn: () => void) => {
        if (timer) clearTimeout(timer)
        this.signal?.removeEventListener('abort', onabort)
        fn()
      }
      promise.then(
        (value) => settle(() => resolve(value)),
        (err) => settle(() => reject(err))
      )
    })
  }
}

function timeoutError(deadline: number): QvacError {
  return new QvacError('REQUEST_TIMEOUT', 'the call timed out', { details: { deadline } })
}

function abortedError(signal: AbortSignal): QvacError {
  return new QvacError('REQUEST_ABORTED', 'the call was aborted', { cause: signal.reason })
}
