import fsp from 'node:fs/promises'
import type { DownloadMetricsHooks } from '../../shared/download-stats.ts'
import { QvacError } from '../../shared/errors.ts'
import { hashFile } from './file-sink.ts'
import { checksumMismatch } from './fetch-result.ts'

/** A local file to use: its path, how errors name it, and whether the caller is a remote peer. */
export interface LocalFile {
  path: string
  /** The full path for the operator; the path inside the models dir for a remote peer. */
  name: string
  remote: boolean
}

/**
 * A local file is used where it is (copying a model into the cache would double it on disk);
 * with an expected hash it is verified first. A remote peer is never told the actual hash.
 */
export async function resolveLocalFile(
  file: LocalFile,
  expectedSha256: string | undefined,
  hooks: DownloadMetricsHooks | undefined,
  signal: AbortSignal | undefined
): Promise<{ path: string; size: number; checksumMs: number }> {
  const details = { path: file.name }
  let stat
  try {
    stat = await fsp.stat(file.path)
  } catch {
    throw new QvacError('MODEL_NOT_FOUND', `no such file: ${file.name}`, { details })
  }
  if (!stat.isFile()) throw new QvacError('INVALID_ARGUMENT', `not a file: ${file.name}`, { details })
  if (expectedSha256 === undefined) return { path: file.path, size: stat.size, checksumMs: 0 }

  hooks?.onChecksumStart?.()
  const { sha256, ms } = await hashFile(file.path, signal)
  hooks?.onChecksumEnd?.({ ok: sha256 === expectedSha256, ms })
  if (sha256 !== expectedSha256) throw checksumMismatch(file.name, expectedSha256, file.remote ? null : sha256)
  return { path: file.path, size: stat.size, checksumMs: ms }
}
