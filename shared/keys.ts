import { createRequire } from 'node:module'
import type HypercoreCrypto from 'hypercore-crypto'
import idEncoding from 'hypercore-id-encoding'
import b4a from 'b4a'
import { QvacError } from './errors.ts'

const TOPIC_NAMESPACE = 'qvacd/topic/'

/**
 * The swarm topic for a name: BLAKE2b of a namespaced name, so `--topic demo` never lands on
 * another application's topic that happens to hash the bare word.
 */
export function topicFromName(name: string): Buffer {
  if (name.length === 0) throw new QvacError('INVALID_ARGUMENT', 'topic name must not be empty')
  return hypercoreCrypto().hash(b4a.from(TOPIC_NAMESPACE + name))
}

/** Parses a peer key given as z32 (52 chars, as printed) or hex (64 chars). */
export function parseKey(id: string | Uint8Array, what = 'key'): Buffer {
  try {
    return idEncoding.decode(id)
  } catch {
    throw new QvacError('INVALID_ARGUMENT', `invalid ${what}: expected 52 z32 or 64 hex characters`, {
      details: { value: typeof id === 'string' ? id.slice(0, 80) : `<${id.byteLength} bytes>` }
    })
  }
}

/** How keys are printed everywhere (z32, as Pear and Holepunch tools print them). */
export function formatKey(key: Uint8Array): string {
  return idEncoding.encode(key)
}

let crypto: typeof HypercoreCrypto | null = null

/** Loaded on first use: it loads sodium-native, which `qvacd status` and key printing never need. */
function hypercoreCrypto(): typeof HypercoreCrypto {
  crypto ??= createRequire(import.meta.url)('hypercore-crypto') as typeof HypercoreCrypto
  return crypto
}
