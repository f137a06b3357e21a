import fsp from 'node:fs/promises'
import { QvacError } from '../../shared/errors.ts'
import { abortError } from './abort.ts'
import { removePartial, type PartialFiles } from './cache.ts'
import { FileSink } from './file-sink.ts'
import type { DownloadReporter } from './progress.ts'
import { checkDeclaredSize, checkFinalSize, type FetchLimits, type FetchResult } from './fetch-result.ts'

const MAX_REDIRECTS = 10
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308])

/** What the partial file's sidecar keeps: enough to ask the server "still the same file?" (If-Range). */
interface PartialMeta {
  url: string
  etag?: string
  lastModified?: string
}

/**
 * Downloads a URL into the partial file, hashing while it streams. A partial file from an earlier
 * attempt is resumed with `Range` + `If-Range`; a server that ignores Range (200) or says the file
 * changed gets a fresh download from byte 0. A broken connection keeps the partial for next time.
 */
export async function fetchHttp(opts: {
  url: URL
  partial: PartialFiles
  limits: FetchLimits
  signal: AbortSignal
  reporter: DownloadReporter
}): Promise<FetchResult> {
  const { url, partial, limits, signal, reporter } = opts
  const started = performance.now()

  const resume = await resumePoint(partial, url)
  let offset = resume?.offset ?? 0
  let res = await request(url, resume ? rangeHeaders(resume) : {}, signal)
  if (res.status === 416 && offset > 0) {
    // The partial is no prefix of the file any more: start over.
    await res.body?.cancel()
    offset = 0
    res = await request(url, {}, signal)
  }

  let total: number | null
  if (res.status === 206 && offset > 0) {
    const range = parseContentRange(res.headers.get('content-range'))
    if (!range || range.start !== offset) {
      await res.body?.cancel()
      throw new QvacError('DOWNLOAD_FAILED', `${url.host} answered a range other than the one asked for`, {
        details: { url: url.href, asked: offset, contentRange: res.headers.get('content-range') }
      })
    }
    total = range.total
  } else if (res.status === 200) {
    offset = 0
    total = contentLength(res)
  } else {
    await res.body?.cancel()
    throw statusError(res, url)
  }

  try {
    checkDeclaredSize(total, limits, url.href)
  } catch (err) {
    await res.body?.cancel()
    await removePartial(partial)
    throw err
  }
  await saveMeta(partial, res, url)

  const sink = await FileSink.open(partial.file, { resume: offset > 0 })
  const bytesResumed = sink.bytes
  let fetched = 0
  try {
    for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
      checkFinalSize(sink.bytes + chunk.byteLength, total, limits, url.href, { partial: true })
      await sink.write(chunk)
      fetched += chunk.byteLength
      reporter.progress(sink.bytes, total, fetched)
    }
    checkFinalSize(sink.bytes, total, limits, url.href, { partial: false })
  } catch (err) {
    await sink.close()
    if (signal.aborted) throw abortError(signal)
    if (err instanceof QvacError) {
      await removePartial(partial)
      throw err
    }
    const syscall = (err as NodeJS.ErrnoException).syscall
    const why = syscall
      ? `writing ${partial.file} failed (${(err as NodeJS.ErrnoException).code ?? syscall})`
      : `the connection to ${url.host} broke after ${sink.bytes} of ${total ?? '?'} bytes; resolving again resumes`
    throw new QvacError('DOWNLOAD_FAILED', why, { cause: err, details: { url: url.href, bytes: sink.bytes, total } })
  }
  const sha256 = await sink.finish()
  reporter.flush()
  return {
    sha256,
    size: sink.bytes,
    bytesDownloaded: fetched,
    bytesResumed,
    downloadMs: performance.now() - started,
    hashMs: sink.hashMs
  }
}

async function resumePoint(partial: PartialFiles, url: URL): Promise<{ offset: number; validator: string } | null> {
  const offset = await FileSink.existingSize(partial.file)
  if (offset === 0) return null
  const meta = await readMeta(partial)
  // Without a validator a resumed file could be stitched from two versions: start over instead.
  const validator = meta?.url === url.href ? (meta.etag ?? meta.lastModified) : undefined
  if (validator === undefined) {
    await removePartial(partial)
    return null
  }
  return { offset, validator }
}

function rangeHeaders(resume: { offset: number; validator: string }): Record<string, string> {
  return { range: `bytes=${resume.offset}-`, 'if-range': resume.validator }
}

async function request(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
  let current = url
  for (let hops = 0; ; hops++) {
    let res: Response
    try {
      // identity: a compressed transfer would make lengths and ranges count other bytes than the file's.
      res = await fetch(current, { headers: { ...headers, 'accept-encoding': 'identity' }, redirect: 'manual', signal })
    } catch (err) {
      if (signal.aborted) throw abortError(signal)
      throw new QvacError('DOWNLOAD_FAILED', `cannot reach ${current.host}: ${causeOf(err)}`, {
        cause: err,
        details: { url: current.href }
      })
    }
    if (!REDIRECT_STATUS.has(res.status)) return res
    await res.body?.cancel()
    const location = res.headers.get('location')
    if (location === null) {
      throw new QvacError('DOWNLOAD_FAILED', `${current.host} redirected (${res.status}) without a Location`, { details: { url: current.href } })
    }
    if (hops === MAX_REDIRECTS) {
      throw new QvacError('DOWNLOAD_FAILED', `more than ${MAX_REDIRECTS} redirects from ${url.href}`, { details: { url: url.href } })
    }
    current = new URL(location, current)
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw new QvacError('DOWNLOAD_FAILED', `redirected to a non-HTTP URL (${current.protocol})`, { details: { url: url.href } })
    }
  }
}

function statusError(res: Response, url: URL): QvacError {
  const details = { url: url.href, status: res.status }
  if (res.status === 404 || res.status === 410) {
    return new QvacError('MODEL_NOT_FOUND', `${url.href}: ${res.status} ${res.statusText}`, { details })
  }
  return new QvacError('DOWNLOAD_FAILED', `${url.href}: HTTP ${res.status} ${res.statusText}`, { details })
}

function contentLength(res: Response): number | null {
  const header = res.headers.get('content-length')
  const length = header === null ? NaN : Number(header)
  return Number.isSafeInteger(length) && length >= 0 ? length : null
}

function parseContentRange(header: string | null): { start: number; total: number | null } | null {
  const match = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null
  if (!match) return null
  return { start: Number(match[1]), total: match[3] === '*' ? null : Number(match[3]) }
}

async function saveMeta(partial: PartialFiles, res: Response, url: URL): Promise<void> {
  const etag = res.headers.get('etag')
  const meta: PartialMeta = {
    url: url.href,
    // A weak ETag may not be used with If-Range (RFC 9110 13.1.5).
    etag: etag && !etag.startsWith('W/') ? etag : undefined,
    lastModified: res.headers.get('last-modified') ?? undefined
  }
  await fsp.writeFile(partial.meta, JSON.stringify(meta))
}

async function readMeta(partial: PartialFiles): Promise<PartialMeta | null> {
  try {
    return JSON.parse(await fsp.readFile(partial.meta, 'utf8')) as PartialMeta
  } catch {
    return null
  }
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  return cause?.code ?? cause?.message ?? (err as Error).message
}
