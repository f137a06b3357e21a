import { parseSource } from '../resolve/source-uri.ts'

const LOCAL_FILE = '(a local file)'

/**
 * A model's source as a caller may see it: a remote peer never learns the host's paths, so a
 * local file (or anything that does not parse as a source) shows as a placeholder.
 */
export function sourceFor(remote: boolean, source: string): string {
  return remote && isLocalFile(source) ? LOCAL_FILE : source
}

function isLocalFile(source: string): boolean {
  try {
    return parseSource(source).type === 'file'
  } catch {
    return true
  }
}
