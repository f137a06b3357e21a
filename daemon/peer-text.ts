const MAX_CHARS = 200

/**
 * A peer-supplied string made safe for one log line: control characters (newlines that would
 * forge a line, terminal escape sequences) and other invisible format characters become visible
 * \u escapes, and it is cut at 200 characters.
 */
export function peerText(value: string): string {
  const cut = value.length > MAX_CHARS ? `${value.slice(0, MAX_CHARS)}…` : value
  return cut.replace(/[\p{Cc}\p{Cf}\u2028\u2029\\]/gu, (ch) =>
    ch === '\\' ? '\\\\' : `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`
  )
}
