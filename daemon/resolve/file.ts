import fsp from 'node:fs/promises'
import type { DownloadMetricsHooks } from '../../shared/download-stats.ts'
import { QvacError } from '../../shared/errors.ts'
import { hashFile } from './file-sink.ts'
import { checksumMismatch } from './fetch-result.ts'

/**
 * A local file is used where it is (copying a model into the cache would double it on disk);
 * with an expected hash it is verified first.
 */
export async function resolveLocalFile(
  filePath: string,
  expectedSha256: string | undefined,
  hooks: DownloadMetricsHooks | undefined,
  signal: AbortSignal | undefined
): Promise<{ path: string; size: number; checksumMs: number }> {
  let stat
  try {
    stat = await fsp.stat(filePath)
  } catch {
    throw new QvacError('MODEL_NOT_FOUND', `no such file: ${filePath}`, { details: { path: filePath } })
  }
  if (!stat.isFile()) throw new QvacError('INVALID_ARGUMENT', `not a file: ${filePath}`, { details: { path: filePath } })
  if (expectedSha256 === undefined) return { path: filePath, size: stat.size, checksumMs: 0 }

  hooks?.onChecksumStart?.()
  const { sha256, ms } = await hashFile(filePath, signal)
  hooks?.onChecksumEnd?.({ ok: sha256 === expectedSha256, ms })
  if (sha256 !== expectedSha256) throw checksumMismatch(filePath, expectedSha256, sha256)
  return { path: filePath, size: stat.size, checksumMs: ms }
}
