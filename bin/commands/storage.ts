import os from 'node:os'
import path from 'node:path'

/** ~/.qvacd, like ~/.ollama: keys, cache and the control socket of this user's daemon. */
export function defaultStorage(): string {
  return path.join(os.homedir(), '.qvacd')
}
