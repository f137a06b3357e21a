// The closed set of error codes. One meaning each; numeric ranges by area:
// transport 50xxx, model 52xxx, download 53xxx, inference 54xxx, delegation 55xxx.
export const ErrorCode = {
  INTERNAL_ERROR: 50000,
  CONNECT_FAILED: 50001,
  CONNECTION_LOST: 50002,
  REQUEST_TIMEOUT: 50003,
  REQUEST_ABORTED: 50004,
  PROTOCOL_VERSION_MISMATCH: 50005,
  INVALID_REQUEST: 50006,
  METHOD_NOT_FOUND: 50007,
  DAEMON_SHUTTING_DOWN: 50008,
  DAEMON_NOT_RUNNING: 50009,
  DAEMON_ALREADY_RUNNING: 50010,
  INVALID_ARGUMENT: 50011,
  CLIENT_CLOSED: 50012,
  RATE_LIMITED: 50013,
  REQUEST_TOO_LARGE: 50014,
  CONNECT_REFUSED: 50015,
  /** A method only the operator may call (control socket), asked by a swarm peer. */
  OPERATOR_ONLY: 50016,

  MODEL_LOAD_FAILED: 52001,
  MODEL_NOT_FOUND: 52002,
  INVALID_MODEL_FILE: 52003,
  UNSUPPORTED_MODEL_TYPE: 52004,
  RESOURCE_LIMIT_EXCEEDED: 52005,
  /** A cached model that is loaded, asked to be removed without force. */
  MODEL_IN_USE: 52006,

  DOWNLOAD_FAILED: 53001,
  CHECKSUM_VALIDATION_FAILED: 53002,
  UNSUPPORTED_SOURCE: 53003,
  SIZE_MISMATCH: 53004,
  SIZE_LIMIT_EXCEEDED: 53005,
  SOURCE_UNAVAILABLE: 53006,
  SOURCE_NOT_ALLOWED: 53007,
  /** A store another process holds open (e.g. a seeding qvacd publish). */
  STORE_LOCKED: 53008,
  PATH_TRAVERSAL: 53900,

  INVALID_INFERENCE_PARAMS: 54001,
  PROMPT_TOO_LONG: 54002,
  QUEUE_FULL: 54003,
  INFERENCE_FAILED: 54004,

  DELEGATION_FAILED: 55001,
  PROVIDER_LOST: 55002,
  DELEGATION_REFUSED: 55003
} as const

export type ErrorName = keyof typeof ErrorCode

export type ErrorDetailValue = string | number | boolean | null
export type ErrorDetails = Record<string, ErrorDetailValue>

const namesByCode = new Map<number, ErrorName>(
  Object.entries(ErrorCode).map(([name, code]) => [code, name as ErrorName])
)

export function errorNameOf(code: number): ErrorName | undefined {
  return namesByCode.get(code)
}

/**
 * The one error type of qvacd. `code` is numeric (ErrorCode), `name` its symbolic name, so
 * `err.name === 'MODEL_NOT_FOUND'` and `err.code === ErrorCode.MODEL_NOT_FOUND` both work, and a
 * remote error arrives as the same class with the same code, message and details.
 */
export class QvacError extends Error {
  readonly code: number
  readonly details: ErrorDetails | undefined

  constructor(
    name: ErrorName,
    message: string,
    opts: { details?: ErrorDetails; cause?: unknown } = {}
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.code = ErrorCode[name]
    this.name = name
    this.details = opts.details
  }

  /** Rebuilds an error from the wire; a code this side does not know keeps its number and name. */
  static fromWire(wire: WireError): QvacError {
    const known = errorNameOf(wire.code)
    const err = new QvacError(known ?? 'INTERNAL_ERROR', wire.message, { details: wire.details })
    if (!known) {
      Object.defineProperty(err, 'code', { value: wire.code })
      err.name = wire.name
    }
    if (wire.remoteStack) err.stack = `${err.name}: ${err.message}\n    [remote] ${wire.remoteStack}`
    return err
  }

  toJSON(): { code: number; name: string; message: string; details?: ErrorDetails } {
    return { code: this.code, name: this.name, message: this.message, details: this.details }
  }
}

export interface WireError {
  code: number
  name: string
  message: string
  details?: ErrorDetails
  remoteStack?: string
}

export function isQvacError(err: unknown, name?: ErrorName): err is QvacError {
  return err instanceof QvacError && (name === undefined || err.code === ErrorCode[name])
}

/**
 * Maps anything thrown to what crosses the wire. Unexpected errors become INTERNAL_ERROR and keep
 * their message and stack to themselves unless `debug` is on.
 */
export function toWireError(err: unknown, debug = false): WireError {
  if (err instanceof QvacError) {
    return { code: err.code, name: err.name, message: err.message, details: err.details }
  }
  const wire: WireError = {
    code: ErrorCode.INTERNAL_ERROR,
    name: 'INTERNAL_ERROR',
    message: 'internal error in the daemon'
  }
  if (debug && err instanceof Error) {
    wire.message = `internal error in the daemon: ${err.message}`
    wire.remoteStack = err.stack
  }
  return wire
}
