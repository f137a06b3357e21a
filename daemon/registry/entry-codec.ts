// The value of one registry entry as stored in the Hyperbee (key: the model name, utf-8). Layout
// as in shared/messages.ts: a leading `flags` uint says which optional fields follow.
// flags: bit 0 = engine, bit 1 = quantization, bit 2 = description.
import c, { type Encoding } from 'compact-encoding'

export interface RegistryEntryValue {
  /** Where the bytes are: a hyperdrive:// (or http(s)://) URI. */
  source: string
  /** SHA-256 of the file, lowercase hex (32 bytes on the wire). */
  sha256: string
  size: number
  engine?: string
  quantization?: string
  description?: string
}

const ENGINE = 1
const QUANTIZATION = 2
const DESCRIPTION = 4

export const registryEntry: Encoding<RegistryEntryValue> = {
  preencode(state, m) {
    c.uint.preencode(state, flagsOf(m))
    c.string.preencode(state, m.source)
    c.fixed32.preencode(state, Buffer.from(m.sha256, 'hex'))
    c.uint.preencode(state, m.size)
    if (m.engine !== undefined) c.string.preencode(state, m.engine)
    if (m.quantization !== undefined) c.string.preencode(state, m.quantization)
    if (m.description !== undefined) c.string.preencode(state, m.description)
  },
  encode(state, m) {
    c.uint.encode(state, flagsOf(m))
    c.string.encode(state, m.source)
    c.fixed32.encode(state, Buffer.from(m.sha256, 'hex'))
    c.uint.encode(state, m.size)
    if (m.engine !== undefined) c.string.encode(state, m.engine)
    if (m.quantization !== undefined) c.string.encode(state, m.quantization)
    if (m.description !== undefined) c.string.encode(state, m.description)
  },
  decode(state) {
    const flags = c.uint.decode(state)
    const entry: RegistryEntryValue = {
      source: c.string.decode(state),
      sha256: c.fixed32.decode(state).toString('hex'),
      size: c.uint.decode(state)
    }
    if (flags & ENGINE) entry.engine = c.string.decode(state)
    if (flags & QUANTIZATION) entry.quantization = c.string.decode(state)
    if (flags & DESCRIPTION) entry.description = c.string.decode(state)
    return entry
  }
}

function flagsOf(m: RegistryEntryValue): number {
  return (m.engine !== undefined ? ENGINE : 0) | (m.quantization !== undefined ? QUANTIZATION : 0) | (m.description !== undefined ? DESCRIPTION : 0)
}
