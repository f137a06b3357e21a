/** Where the daemon writes what it is doing. `qvacd start` prints to stderr; tests stay quiet. */
export interface Logger {
  info(message: string): void
  error(message: string, err?: unknown): void
}

export const silentLogger: Logger = {
  info() {},
  error() {}
}

export function consoleLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const line = (level: string, message: string) => stream.write(`${new Date().toISOString()} ${level} ${message}\n`)
  return {
    info: (message) => line('info ', message),
    error: (message, err) => line('error', err instanceof Error ? `${message}: ${err.stack ?? err.message}` : message)
  }
}
