import { parseKey } from '../shared/keys.ts'
import type { DelegateTarget } from '../shared/messages.ts'

/** A call's `delegate` option as a caller gives it. */
export interface DelegateInput {
  /** The provider's public key (z32 or hex). */
  peer: string | Uint8Array
  /** Run on the daemon itself when the provider cannot be reached. */
  fallbackToLocal?: boolean
}

export function delegateTarget(input: DelegateInput | undefined): DelegateTarget | undefined {
  return input && { peer: parseKey(input.peer, 'delegate peer key'), fallbackToLocal: input.fallbackToLocal ?? false }
}
