import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { QvacError } from '../../shared/errors.ts'
import { formatKey, parseKey } from '../../shared/keys.ts'

/**
 * A model source after parsing; `id` is its canonical spelling (cache index and shared-download
 * key). A file's `path` is absolute (from the working dir); `given` is the path as written.
 */
export type ParsedSource =
  | { type: 'hyperdrive'; id: string; key: Buffer; path: string }
  | { type: 'registry'; id: string; name: string }
  | { type: 'http'; id: string; url: URL }
  | { type: 'file'; id: string; path: string; given: string }

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i
// Registry names are Hyperbee keys, never file names: letters, digits and a few separators.
const REGISTRY_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@+\/-]{0,127}$/

/**
 * Parses a source as `resolveModel` takes it: `hyperdrive://KEY/path`, `pear://KEY/path`,
 * `registry://NAME`, `http(s)://…`, `file://…` or a local path (relative to the working dir).
 */
export function parseSource(source: string): ParsedSource {
  if (typeof source !== 'string' || source.length === 0) {
    throw new QvacError('INVALID_ARGUMENT', 'source must be a non-empty string')
  }
  const scheme = SCHEME.exec(source)?.[1].toLowerCase()
  switch (scheme) {
    case undefined:
      return localFile(source)
    case 'hyperdrive':
    case 'pear':
      return driveSource(source, scheme)
    case 'registry':
      return registrySource(source)
    case 'http':
    case 'https':
      return httpSource(source)
    case 'file':
      return fileUrlSource(source)
    default:
      throw new QvacError('UNSUPPORTED_SOURCE', `unsupported source scheme "${scheme}://": use hyperdrive://, pear://, registry://, http(s)://, file:// or a local path`, {
        details: { scheme }
      })
  }
}

/** The `hyperdrive://` URI of a file in a drive, its path segments percent-encoded. */
export function driveUri(key: Buffer, filePath: string): string {
  return `hyperdrive://${formatKey(key)}/${filePath.split('/').map(encodeURIComponent).join('/')}`
}

/**
 * Checks a path inside a drive and returns it rooted (`/a/b`). `..`, empty segments (an absolute
 * path smuggled in as `//x`), backslashes and NUL are refused: they only serve to escape a folder.
 */
export function normalizeDrivePath(segments: string[], source: string): string {
  if (segments.length === 0 || (segments.length === 1 && segments[0] === '')) {
    throw new QvacError('INVALID_ARGUMENT', `no file path after the drive key in "${source}"`)
  }
  if (segments[segments.length - 1] === '') {
    throw new QvacError('INVALID_ARGUMENT', `"${source}" names a folder, not a file`)
  }
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..' || /[\\\0/]/.test(segment)) {
      throw new QvacError('PATH_TRAVERSAL', `refused drive path in "${printable(source)}": no "..", ".", empty segments, backslashes or NUL`, {
        details: { source: printable(source) }
      })
    }
  }
  return '/' + segments.join('/')
}

function driveSource(source: string, scheme: string): ParsedSource {
  const rest = source.slice(scheme.length + 3)
  const slash = rest.indexOf('/')
  const keyText = slash === -1 ? rest : rest.slice(0, slash)
  const key = parseKey(keyText, `drive key in "${printable(source)}"`)
  const segments = slash === -1 ? [] : rest.slice(slash + 1).split('/').map((s) => decodeSegment(s, source))
  const filePath = normalizeDrivePath(segments, source)
  return { type: 'hyperdrive', id: driveUri(key, filePath.slice(1)), key, path: filePath }
}

function registrySource(source: string): ParsedSource {
  const name = decodeSegment(source.slice('registry://'.length), source)
  assertRegistryName(name)
  return { type: 'registry', id: `registry://${name}`, name }
}

/** Registry names: 1–128 of `A-Z a-z 0-9 . _ : @ + / -`, starting with a letter or digit. */
export function assertRegistryName(name: string): void {
  if (!REGISTRY_NAME.test(name) || name.includes('//')) {
    throw new QvacError('INVALID_ARGUMENT', `invalid registry name "${printable(name)}": 1-128 letters, digits or . _ : @ + / -, starting with a letter or digit`)
  }
}

function httpSource(source: string): ParsedSource {
  let url: URL
  try {
    url = new URL(source)
  } catch {
    throw new QvacError('INVALID_ARGUMENT', `malformed URL "${printable(source)}"`)
  }
  if (url.username || url.password) {
    throw new QvacError('INVALID_ARGUMENT', 'URLs with credentials are refused: they would be stored in the cache index')
  }
  url.hash = ''
  return { type: 'http', id: url.href, url }
}

function fileUrlSource(source: string): ParsedSource {
  let filePath: string
  try {
    filePath = fileURLToPath(source)
  } catch (err) {
    throw new QvacError('INVALID_ARGUMENT', `malformed file URL "${printable(source)}": ${(err as Error).message}`)
  }
  return localFile(filePath)
}

function localFile(filePath: string): ParsedSource {
  if (filePath.includes('\0')) {
    throw new QvacError('PATH_TRAVERSAL', 'refused local path: it contains NUL')
  }
  const absolute = path.resolve(filePath)
  return { type: 'file', id: `file://${absolute}`, path: absolute, given: filePath }
}

function decodeSegment(segment: string, source: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new QvacError('INVALID_ARGUMENT', `malformed percent-encoding in "${printable(source)}"`)
  }
}

// Sources end up in messages and logs: keep them one short line.
function printable(text: string): string {
  return text.replace(/[\0-\x1f]/g, '?').slice(0, 200)
}
