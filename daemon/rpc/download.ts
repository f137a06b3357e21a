import fs from 'node:fs/promises'
import path from 'node:path'
import { QvacError } from '../../shared/errors.ts'
import type { DownloadAssetResponse, RequestOf } from '../../shared/messages.ts'
import { downloadGauges } from '../../shared/download-stats.ts'
import type { ModelResolver } from '../resolve/resolver.ts'
import type { SourceAccess, SourcePolicy } from '../resolve/source-access.ts'
import type { Delegation } from '../delegation/delegation.ts'
import type { CallContext, Handler } from './router.ts'

/**
 * `downloadAsset`: fetches a source into the cache ahead of a load (or on a provider), with
 * progress events when the caller asked for them. The answer names what was fetched, never where
 * it lies on the daemon's disk. What a remote caller may fetch is the source policy's call.
 */
export function downloadAssetHandler(resolver: () => ModelResolver | null, delegation: Delegation, sources: SourcePolicy): Handler<'downloadAsset'> {
  return async (request, ctx): Promise<DownloadAssetResponse> => {
    const access = sources.forCaller(ctx.caller)
    try {
      return await download(request, ctx, access)
    } catch (err) {
      throw sources.errorFor(err, access)
    }
  }

  async function download(request: RequestOf<'downloadAsset'>, ctx: CallContext, access: SourceAccess): Promise<DownloadAssetResponse> {
    const forwarded = await delegation.route(await delegation.targetFor(request), (target) => delegation.download(request, target, ctx))
    if (forwarded) return forwarded
    const local = resolver()
    if (!local) throw new QvacError('DAEMON_SHUTTING_DOWN', 'the daemon is not running')
    const { progressId } = request
    const ts = Date.now()
    const resolved = await local.resolveModel(request.source, {
      stats: true,
      expectedSha256: request.expectedSha256,
      signal: ctx.signal,
      access,
      hooks:
        progressId === undefined
          ? undefined
          : { onProgress: ({ bytes, total, speedBps }) => ctx.notify('download.progress', { progressId, bytes, total: total ?? 0, speedBps }) }
    })
    const { stats } = resolved
    ctx.metrics.observe('downloadAsset.totalDownloadTime', stats.totalDownloadTime)
    ctx.profile?.emit('downloadAsset', 'download', {
      ts,
      ms: stats.totalDownloadTime,
      bytes: stats.totalBytesDownloaded,
      gauges: { totalDownloadTime: stats.totalDownloadTime, ...downloadGauges(stats) },
      tags: { sourceType: stats.sourceType, cacheHit: String(stats.cacheHit) }
    })
    // Cached files are named by their SHA-256; a local file source was not hashed unless asked.
    const inCache = path.dirname(resolved.path) === path.dirname(local.cache.contentPath('0'))
    const sha256 = inCache ? path.basename(resolved.path) : (request.expectedSha256?.toLowerCase() ?? '')
    const { size } = await fs.stat(resolved.path)
    return { asset: { source: request.source, sha256, size }, stats }
  }
}
