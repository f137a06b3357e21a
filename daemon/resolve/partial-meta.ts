import fsp from 'node:fs/promises'
import type { PartialFiles } from './cache.ts'

/** What an HTTP partial file's sidecar keeps: enough to ask the server "still the same file?" (If-Range). */
export interface PartialMeta {
  url: string
  etag?: string
  lastModified?: string
  /** Non-public addresses the bytes so far came through. */
  via?: string[]
}

export async function readMeta(partial: PartialFiles): Promise<PartialMeta | null> {
  try {
    return JSON.parse(await fsp.readFile(partial.meta, 'utf8')) as PartialMeta
  } catch {
    return null
  }
}

/** What If-Range can carry; without it a partial can never be resumed safely. */
export function validatorOf(meta: PartialMeta): string | undefined {
  return meta.etag ?? meta.lastModified
}
