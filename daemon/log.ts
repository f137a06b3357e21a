import { createRequire } from 'node:module'
import pino from 'pino'
import type PinoPretty from 'pino-pretty'

export const LOG_LEVELS = ['silent', 'error', 'warn', 'info', 'debug', 'trace'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Fields a line or a child logger carries: `peer` and `method` name the call it is about. */
export type LogFields = Record<string, unknown>

/**
 * Where the daemon writes what it is doing. `qvacd start` logs to stderr through pino; tests stay
 * quiet. Small on purpose: the daemon needs levels, fields and child loggers, nothing else.
 */
export interface Logger {
  readonly level: LogLevel
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, err?: unknown, fields?: LogFields): void
  child(fields: LogFields): Logger
}

export const silentLogger: Logger = {
  level: 'silent',
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger
}

export interface ConsoleLoggerOptions {
  /** Default 'info'. */
  level?: LogLevel
  /** Human-readable lines (pino-pretty) instead of JSON; default: when stderr is a terminal. */
  pretty?: boolean
  /** Default: stderr. */
  stream?: NodeJS.WritableStream
}

/** pino on stderr: pretty on a terminal, one JSON object per line otherwise (pino escapes peer strings). */
export function consoleLogger(opts: ConsoleLoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr
  const pretty = opts.pretty ?? (stream as NodeJS.WriteStream).isTTY === true
  const destination = pretty ? prettyStream(stream) : stream === process.stderr ? pino.destination({ dest: 2, sync: true }) : stream
  return wrap(pino({ level: opts.level ?? 'info', base: null }, destination))
}

function prettyStream(stream: NodeJS.WritableStream): NodeJS.WritableStream {
  // Loaded only for a terminal: pino-pretty is the heavier half of logging.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty
  return pretty({ destination: stream, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' })
}

function wrap(log: pino.Logger): Logger {
  return {
    get level() {
      return log.level as LogLevel
    },
    debug: (message, fields) => log.debug(fields ?? {}, message),
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, err, fields) => log.error(err === undefined ? (fields ?? {}) : { ...fields, err }, message),
    child: (fields) => wrap(log.child(fields))
  }
}
