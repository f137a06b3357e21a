import fsp from 'node:fs/promises'
import path from 'node:path'
import { QvacError } from '../../shared/errors.ts'

/** What a refused local path throws: the same whether the file exists or not. */
export function localFileNotAllowed(): QvacError {
  return new QvacError('SOURCE_NOT_ALLOWED', "remote peers may use local files only inside the daemon's models dir (--models-dir)")
}

/**
 * The operator's models dir, the only place a remote peer's local path may lead: `root` as given
 * (absolute) and `real` with its symlinks resolved.
 */
export interface ModelsDir {
  root: string
  real: string
}

export async function openModelsDir(dir: string): Promise<ModelsDir> {
  const root = path.resolve(dir)
  let real: string
  try {
    real = await fsp.realpath(root)
  } catch (err) {
    throw new QvacError('INVALID_ARGUMENT', `models dir ${root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (!(await fsp.stat(real)).isDirectory()) throw new QvacError('INVALID_ARGUMENT', `models dir ${root} is not a directory`)
  return { root, real }
}

/**
 * A remote peer's local path (relative to the models dir, or absolute inside it), as the real path
 * of a file inside the models dir. A path that leaves the dir by its spelling is refused before
 * any I/O; one that leaves it through a symlink is refused after realpath, with the same error.
 * A missing file inside is MODEL_NOT_FOUND, named by its path relative to the models dir.
 */
export async function resolveInModelsDir(dir: ModelsDir | null, requested: string): Promise<{ path: string; relative: string }> {
  if (!dir) throw localFileNotAllowed()
  const candidate = path.resolve(dir.real, requested)
  const base = [dir.real, dir.root].find((root) => isInside(root, candidate))
  if (base === undefined) throw localFileNotAllowed()
  const relative = path.relative(base, candidate)
  const spelled = path.join(dir.real, relative)

  let real: string
  try {
    real = await fsp.realpath(spelled)
  } catch {
    // Missing: refused all the same when the way to it leaves the dir, so nothing outside is probed.
    const nearest = await nearestRealAncestor(spelled)
    if (nearest === null || !isInside(dir.real, nearest)) throw localFileNotAllowed()
    throw new QvacError('MODEL_NOT_FOUND', `no such file in the models dir: ${relative || '.'}`, { details: { path: relative } })
  }
  if (!isInside(dir.real, real)) throw localFileNotAllowed()
  return { path: real, relative }
}

/** The realpath of the closest ancestor that exists; null when a dangling symlink is on the way. */
async function nearestRealAncestor(p: string): Promise<string | null> {
  for (let current = p; ; current = path.dirname(current)) {
    try {
      return await fsp.realpath(current)
    } catch {}
    try {
      if ((await fsp.lstat(current)).isSymbolicLink()) return null
    } catch {}
    if (path.dirname(current) === current) return null
  }
}

export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p)
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + path.sep) && !path.isAbsolute(rel))
}
