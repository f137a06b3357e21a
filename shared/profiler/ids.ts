import crypto from 'node:crypto'

// Trace and profile ids: a random prefix per process and a counter, 20 lowercase hex characters:
// unique without a random draw per call. A daemon names a call's profile by its number and writes
// the id's text straight into the response (writeIdText): a call whose handler emits no event
// never makes the string.

const PREFIX = crypto.randomBytes(6).toString('hex')
const PREFIX_BYTES = Buffer.from(PREFIX, 'latin1')
const HEX = Buffer.from('0123456789abcdef', 'latin1')
let counter = 0

/** Characters (and bytes: all ASCII) of every id made here. */
export const ID_TEXT_LENGTH = 20

/** The next id, as a number (idText() is its text). */
export function nextId(): number {
  const id = counter
  counter = (counter + 1) % 0xffffffff
  return id
}

/** An id's 20 hex characters. */
export function idText(id: number): string {
  return PREFIX + id.toString(16).padStart(8, '0')
}

/** A fresh trace or profile id (20 hex characters). */
export function newTraceId(): string {
  return idText(nextId())
}

/** Writes idText(id) as ASCII at `at`; returns the offset after it. */
export function writeIdText(buffer: Uint8Array, at: number, id: number): number {
  for (let i = 0; i < PREFIX_BYTES.length; i++) buffer[at + i] = PREFIX_BYTES[i]
  at += PREFIX_BYTES.length
  for (let i = 7; i >= 0; i--) {
    buffer[at + i] = HEX[id & 15]
    id >>>= 4
  }
  return at + 8
}
