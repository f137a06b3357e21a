// Option parsers shared by the commands: every number is checked here, so a typo never reaches a
// deadline or a loop as NaN (commander reports the throw as a usage error, exit 2).
import os from 'node:os'
import path from 'node:path'
import { InvalidArgumentError, Option } from 'commander'

/** ~/.qvacd, like ~/.ollama: keys, cache and the control socket of this user's daemon. */
export function defaultStorage(): string {
  return path.join(os.homedir(), '.qvacd')
}

export const storageOption = () =>
  new Option('--storage <dir>', 'storage dir (keys, cache, control socket)').env('QVACD_STORAGE').default(defaultStorage())

export const bootstrapOption = () =>
  new Option('--bootstrap <host:port,...>', 'DHT bootstrap nodes (default: the public HyperDHT)').env('QVACD_BOOTSTRAP')

export function positiveInt(value: string): number {
  const n = Number(value)
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

export function nonNegativeInt(value: string): number {
  const n = Number(value)
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number (0 or more)')
  return n
}

/** A stream's frame interval in ms (see the daemon's OutboundStream): 0 to 1000. */
export function frameMs(value: string): number {
  const n = nonNegativeInt(value)
  if (n > 1000) throw new InvalidArgumentError('expected at most 1000 ms')
  return n
}

export function port(value: string): number {
  const n = Number(value)
  if (!/^\s*\d+\s*$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number (0-65535)')
  return n
}

export function fraction(value: string): number {
  const n = Number(value)
  if (!(n > 0 && n < 10)) throw new InvalidArgumentError('expected a fraction such as 0.1')
  return n
}
