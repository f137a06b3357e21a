import { QvacError } from '../shared/errors.ts'

/** An HTTP error with OpenAI's error body: `{ error: { message, type, param, code } }`. */
export class HttpError extends Error {
  readonly status: number
  readonly type: string
  readonly code: string | null
  readonly param: string | null

  constructor(status: number, message: string, opts: { type?: string; code?: string | null; param?: string | null } = {}) {
    super(message)
    this.status = status
    this.type = opts.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error')
    this.code = opts.code ?? null
    this.param = opts.param ?? null
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

export function badRequest(message: string, param: string | null = null, code: string | null = null): HttpError {
  return new HttpError(400, message, { param, code })
}

// Mapped once, here (tRPC style): the daemon's closed set of codes → HTTP status and OpenAI code.
const BY_NAME: Record<string, { status: number; code: string; type?: string }> = {
  INVALID_ARGUMENT: { status: 400, code: 'invalid_argument' },
  INVALID_INFERENCE_PARAMS: { status: 400, code: 'invalid_value' },
  INVALID_REQUEST: { status: 400, code: 'invalid_request' },
  PROMPT_TOO_LONG: { status: 400, code: 'context_length_exceeded' },
  UNSUPPORTED_MODEL_TYPE: { status: 400, code: 'unsupported_model_type' },
  UNSUPPORTED_SOURCE: { status: 400, code: 'unsupported_source' },
  PATH_TRAVERSAL: { status: 400, code: 'invalid_source' },
  MODEL_NOT_FOUND: { status: 404, code: 'model_not_found' },
  SOURCE_NOT_ALLOWED: { status: 403, code: 'source_not_allowed', type: 'permission_error' },
  OPERATOR_ONLY: { status: 403, code: 'operator_only', type: 'permission_error' },
  QUEUE_FULL: { status: 429, code: 'queue_full', type: 'requests' },
  RATE_LIMITED: { status: 429, code: 'rate_limit_exceeded', type: 'requests' },
  CONNECT_FAILED: { status: 503, code: 'daemon_unavailable' },
  CONNECTION_LOST: { status: 503, code: 'daemon_unavailable' },
  DAEMON_NOT_RUNNING: { status: 503, code: 'daemon_unavailable' },
  DAEMON_SHUTTING_DOWN: { status: 503, code: 'daemon_unavailable' },
  CLIENT_CLOSED: { status: 503, code: 'daemon_unavailable' },
  PROTOCOL_VERSION_MISMATCH: { status: 503, code: 'daemon_unavailable' },
  DELEGATION_FAILED: { status: 503, code: 'provider_unavailable' },
  PROVIDER_LOST: { status: 503, code: 'provider_unavailable' },
  REQUEST_TIMEOUT: { status: 504, code: 'timeout' },
  MODEL_LOAD_FAILED: { status: 502, code: 'model_load_failed' },
  INVALID_MODEL_FILE: { status: 502, code: 'model_load_failed' }
}

/** Anything a route throws → the HTTP error the client sees; daemon internals stay out of 500s. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err
  if (err instanceof QvacError) {
    const mapped = BY_NAME[err.name] ?? (err.code >= 53000 && err.code < 54000 ? { status: 502, code: 'source_unavailable' } : null)
    if (mapped) return new HttpError(mapped.status, err.message, { code: mapped.code, type: mapped.type })
    return new HttpError(500, err.message, { code: err.name.toLowerCase() })
  }
  return new HttpError(500, 'internal error in the gateway', { code: 'internal_error' })
}
