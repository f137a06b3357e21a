import fsp from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { QvacError } from '../../shared/errors.ts'
import { abortError } from './abort.ts'
import { isPublicAddress, type AddressPolicy } from './address-policy.ts'
import { readMeta, validatorOf, type PartialMeta } from './partial-meta.ts'
import { removePartial, type PartialFiles } from './cache.ts'
import { FileSink } from './file-sink.ts'
import type { DownloadReporter } from './progress.ts'
import { checkDeclaredSize, checkFinalSize, type FetchLimits, type FetchResult } from './fetch-result.ts'

const MAX_REDIRECTS = 10
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308])
// A server silent this long is gone (undici, behind fetch, waits 300 s; a model download has no reason to stall that long).
const IDLE_TIMEOUT_MS = 60_000

/**
 * Downloads a URL into the partial file, hashing while it streams. A partial file from an earlier
 * attempt is resumed with `Range` + `If-Range`; a server that ignores Range (200) or says the file
 * changed gets a fresh download from byte 0. A broken connection keeps the partial for next time
 * when the server gave a validator (strong ETag or Last-Modified); without one it is deleted, as
 * it could never be resumed. Every connection, redirects included, goes only where `addresses`
 * allows, checked on the address actually connected to.
 */
export async function fetchHttp(opts: {
  url: URL
  partial: PartialFiles
  limits: FetchLimits
  addresses: AddressPolicy
  signal: AbortSignal
  reporter: DownloadReporter
}): Promise<FetchResult> {
  const { url, partial, limits, addresses, signal, reporter } = opts
  const started = performance.now()

  const resume = await resumePoint(partial, url)
  let offset = resume?.offset ?? 0
  let res = await request(url, resume ? rangeHeaders(resume) : {}, addresses, signal)
  if (res.status === 416 && offset > 0) {
    // The partial is no prefix of the file any more: start over.
    res.body.destroy()
    offset = 0
    res = await request(url, {}, addresses, signal)
  }

  let total: number | null
  if (res.status === 206 && offset > 0) {
    const range = parseContentRange(res.header('content-range'))
    if (!range || range.start !== offset) {
      res.body.destroy()
      throw new QvacError('DOWNLOAD_FAILED', `${url.host} answered a range other than the one asked for`, {
        details: { url: url.href, asked: offset, contentRange: res.header('content-range') }
      })
    }
    total = range.total
  } else if (res.status === 200) {
    offset = 0
    total = contentLength(res)
  } else {
    res.body.destroy()
    throw statusError(res, url)
  }

  try {
    checkDeclaredSize(total, limits, url.href)
  } catch (err) {
    res.body.destroy()
    await removePartial(partial)
    throw err
  }
  // Resumed bytes came the way the partial's sidecar says; a fresh start only this request's way.
  const via = [...new Set([...(offset > 0 ? (resume?.via ?? []) : []), ...res.via])]
  const meta = await saveMeta(partial, res, url, via)
  const resumable = validatorOf(meta) !== undefined

  const sink = await FileSink.open(partial.file, { resume: offset > 0 })
  const bytesResumed = sink.bytes
  let fetched = 0
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      checkFinalSize(sink.bytes + chunk.byteLength, total, limits, url.href, { partial: true })
      await writeToCache(sink, chunk)
      fetched += chunk.byteLength
      reporter.progress(sink.bytes, total, fetched)
    }
    checkFinalSize(sink.bytes, total, limits, url.href, { partial: false })
  } catch (err) {
    res.body.destroy()
    await sink.close()
    if (err instanceof QvacError || !resumable) await removePartial(partial)
    if (signal.aborted) throw abortError(signal)
    if (err instanceof QvacError) throw err
    const next = resumable
      ? 'resolving again resumes'
      : 'the server sent no validator (strong ETag or Last-Modified), so resolving again starts over'
    throw new QvacError('DOWNLOAD_FAILED', `the connection to ${url.host} broke after ${sink.bytes} of ${total ?? '?'} bytes; ${next}`, {
      cause: err,
      details: { url: url.href, bytes: sink.bytes, total, resumable }
    })
  }
  const sha256 = await sink.finish()
  reporter.flush()
  return {
    sha256,
    size: sink.bytes,
    bytesDownloaded: fetched,
    bytesResumed,
    downloadMs: performance.now() - started,
    hashMs: sink.hashMs,
    via
  }
}

async function resumePoint(partial: PartialFiles, url: URL): Promise<{ offset: number; validator: string; via: string[] } | null> {
  const offset = await FileSink.existingSize(partial.file)
  if (offset === 0) return null
  const meta = await readMeta(partial)
  // Without a validator a resumed file could be stitched from two versions: start over instead.
  const validator = meta?.url === url.href ? validatorOf(meta) : undefined
  if (validator === undefined) {
    await removePartial(partial)
    return null
  }
  return { offset, validator, via: meta?.via ?? [] }
}

function rangeHeaders(resume: { offset: number; validator: string; via: string[] }): Record<string, string> {
  return { range: `bytes=${resume.offset}-`, 'if-range': resume.validator }
}

/** A response as the download reads it; `body` is destroyed to let go of the connection. */
interface HttpResponse {
  status: number
  statusText: string
  header(name: string): string | null
  body: http.IncomingMessage
  /** Non-public addresses connected to on the way (redirects included). */
  via: string[]
}

async function request(url: URL, headers: Record<string, string>, addresses: AddressPolicy, signal: AbortSignal): Promise<HttpResponse> {
  let current = url
  const via = new Set<string>()
  for (let hops = 0; ; hops++) {
    const res = await get(current, headers, addresses, signal)
    for (const address of res.via) via.add(address)
    if (!REDIRECT_STATUS.has(res.status)) return { ...res, via: [...via] }
    res.body.destroy()
    const location = res.header('location')
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

/**
 * One GET, on its own connection (a pooled socket could have been opened under another caller's
 * rules). An IP-literal host is checked before connecting, a name by the lookup hook on the
 * addresses it resolves to, so the check and the connection see the same address.
 */
function get(url: URL, headers: Record<string, string>, addresses: AddressPolicy, signal: AbortSignal): Promise<HttpResponse> {
  addresses.assertLiteral(url.hostname)
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http
    // identity: a compressed transfer would make lengths and ranges count other bytes than the file's.
    const req = client.request(url, {
      headers: { ...headers, 'accept-encoding': 'identity' },
      agent: false,
      lookup: addresses.lookup,
      signal
    })
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('no data for a while'), { code: 'ETIMEDOUT' })))
    req.on('error', (err) => {
      if (signal.aborted) return reject(abortError(signal))
      if (err instanceof QvacError) return reject(err)
      reject(new QvacError('DOWNLOAD_FAILED', `cannot reach ${url.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err, details: { url: url.href } }))
    })
    req.on('response', (res) => {
      resolve({
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? '',
        header: (name) => {
          const value = res.headers[name]
          return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value
        },
        body: res,
        via: res.socket.remoteAddress && !isPublicAddress(res.socket.remoteAddress) ? [res.socket.remoteAddress] : []
      })
    })
    req.end()
  })
}

/** A failed disk write ends the download (the partial is dropped: ENOSPC and the like). */
async function writeToCache(sink: FileSink, chunk: Uint8Array): Promise<void> {
  try {
    await sink.write(chunk)
  } catch (err) {
    throw new QvacError('DOWNLOAD_FAILED', `writing the download to the cache failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err })
  }
}

function statusError(res: HttpResponse, url: URL): QvacError {
  const details = { url: url.href, status: res.status }
  if (res.status === 404 || res.status === 410) {
    return new QvacError('MODEL_NOT_FOUND', `${url.href}: ${res.status} ${res.statusText}`, { details })
  }
  return new QvacError('DOWNLOAD_FAILED', `${url.href}: HTTP ${res.status} ${res.statusText}`, { details })
}

function contentLength(res: HttpResponse): number | null {
  const header = res.header('content-length')
  const length = header === null ? NaN : Number(header)
  return Number.isSafeInteger(length) && length >= 0 ? length : null
}

function parseContentRange(header: string | null): { start: number; total: number | null } | null {
  const match = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null
  if (!match) return null
  return { start: Number(match[1]), total: match[3] === '*' ? null : Number(match[3]) }
}

async function saveMeta(partial: PartialFiles, res: HttpResponse, url: URL, via: string[]): Promise<PartialMeta> {
  const etag = res.header('etag')
  const meta: PartialMeta = {
    url: url.href,
    // A weak ETag may not be used with If-Range (RFC 9110 13.1.5).
    etag: etag && !etag.startsWith('W/') ? etag : undefined,
    lastModified: res.header('last-modified') ?? undefined,
    via
  }
  await fsp.writeFile(partial.meta, JSON.stringify(meta))
  return meta
}
