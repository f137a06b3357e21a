import { InvalidArgumentError } from 'commander'

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** `30s`, `5m`, `1h`, `250ms`, a bare number of seconds (as Ollama's keep-alive), `0` for never. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim())
  if (!match) throw new InvalidArgumentError(`expected a duration such as 30s, 5m, 1h or 0, got "${value}"`)
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? 's'])
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4
}

/** `20GiB`, `500MB`, `1.5GiB`, or bytes; `0` for no limit. */
export function parseByteSize(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i.exec(value.trim())
  if (!match) throw new InvalidArgumentError(`expected a size such as 20GiB, 500MB or a number of bytes, got "${value}"`)
  const bytes = Math.floor(Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()])
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError(`size too large: "${value}"`)
  return bytes
}

/** A SHA-256 as 64 hex digits, checked where the user typed it (the option, not a wire field, is named). */
export function sha256Hex(value: string): string {
  if (!/^[0-9a-f]{64}$/i.test(value)) throw new InvalidArgumentError(`expected a SHA-256: 64 hex digits, got ${value.length} character(s)`)
  return value.toLowerCase()
}

/** 0, 0.7, 1.5: a number that is not negative. */
export function nonNegativeNumber(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number (0 or more)')
  return n
}
