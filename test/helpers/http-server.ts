import http from 'node:http'
import crypto from 'node:crypto'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AddressInfo } from 'node:net'
import type { Assertion } from 'brittle'

export interface FileServerOptions {
  /** Answer every Range request with the whole file (200), as some servers do. */
  ignoreRange?: boolean
  /** Pause between 64 KiB chunks, so a download can be caught in the middle. */
  chunkDelayMs?: number
  /** Send neither ETag nor Last-Modified: a cut download cannot be resumed. */
  noValidators?: boolean
  /** Listen on this loopback address (default 127.0.0.1). */
  host?: string
}

export interface FileServer {
  url(name: string): string
  /** A URL that redirects `hops` times before reaching the file. */
  redirectUrl(name: string, hops: number): string
  /** A URL that redirects to `target`, wherever that is. */
  redirectTo(target: string): string
  /** Every request the server received, redirects and 404s included. */
  readonly received: number
  /** GET requests per file name (redirects not counted). */
  requests(name: string): number
  /** Responses whose client went away before the body was complete. */
  readonly abandoned: number
  /** The next GET of `name` sends `bytes` body bytes, then the socket is destroyed. */
  cutNext(name: string, bytes: number): void
  /** Resolves once a response for `name` has sent at least `bytes` body bytes. */
  sent(name: string, bytes: number): Promise<void>
}

const CHUNK = 64 * 1024
const LAST_MODIFIED = new Date(Date.UTC(2024, 0, 1)).toUTCString()

/**
 * An HTTP file server on 127.0.0.1 with ETag, Last-Modified, Range and If-Range (or ignoring
 * Range), redirects, cut connections and request counts. Closed by the test's teardown.
 */
export async function startFileServer(t: Assertion, files: Record<string, Buffer>, opts: FileServerOptions = {}): Promise<FileServer> {
  const counts = new Map<string, number>()
  const cuts = new Map<string, number>()
  const progress = new Map<string, number>()
  const watchers = new Set<() => void>()
  const stats = { abandoned: 0, received: 0 }
  const host = opts.host ?? '127.0.0.1'

  const server = http.createServer((req, res) => {
    stats.received++
    const url = new URL(req.url ?? '/', `http://${host}`)
    const to = /^\/to\/(.+)$/.exec(url.pathname)
    if (to) {
      res.writeHead(302, { location: decodeURIComponent(to[1]) })
      res.end()
      return
    }
    const redirect = /^\/redirect\/(\d+)\/(.+)$/.exec(url.pathname)
    if (redirect) {
      const hops = Number(redirect[1])
      res.writeHead(302, { location: hops > 1 ? `/redirect/${hops - 1}/${redirect[2]}` : `/files/${redirect[2]}` })
      res.end()
      return
    }
    const name = decodeURIComponent(url.pathname.replace(/^\/files\//, ''))
    const data = files[name]
    if (!url.pathname.startsWith('/files/') || data === undefined) {
      res.writeHead(404)
      res.end()
      return
    }
    counts.set(name, (counts.get(name) ?? 0) + 1)
    const validators: Record<string, string> = opts.noValidators
      ? {}
      : { etag: `"${crypto.createHash('sha256').update(data).digest('hex').slice(0, 16)}"`, 'last-modified': LAST_MODIFIED }
    const etag = validators.etag
    let start = 0
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
    const ifRange = req.headers['if-range']
    if (range && !opts.ignoreRange && (ifRange === undefined || (etag !== undefined && (ifRange === etag || ifRange === LAST_MODIFIED)))) {
      start = Number(range[1])
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` })
        res.end()
        return
      }
      res.writeHead(206, {
        'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
        'content-length': data.length - start,
        ...validators
      })
    } else {
      res.writeHead(200, { 'content-length': data.length, 'accept-ranges': opts.ignoreRange ? 'none' : 'bytes', ...validators })
    }
    const cut = cuts.get(name)
    cuts.delete(name)
    send(req, res, name, data.subarray(start), cut).catch(() => {})
  })

  async function send(req: http.IncomingMessage, res: http.ServerResponse, name: string, body: Buffer, cut: number | undefined): Promise<void> {
    let gone = false
    req.socket.once('close', () => {
      gone = true
      if (!res.writableFinished) stats.abandoned++
    })
    const end = cut === undefined ? body.length : Math.min(cut, body.length)
    for (let offset = 0; offset < end && !gone; offset += CHUNK) {
      const chunk = body.subarray(offset, Math.min(offset + CHUNK, end))
      if (!res.write(chunk)) await once(res, 'drain')
      progress.set(name, Math.max(progress.get(name) ?? 0, offset + chunk.length))
      for (const check of watchers) check()
      if (opts.chunkDelayMs) await sleep(opts.chunkDelayMs)
    }
    if (gone) return
    if (cut === undefined) {
      res.end()
      return
    }
    // Let the bytes written so far reach the client, then break the connection mid-body.
    res.write(Buffer.alloc(0), () => req.socket.destroy())
  }

  server.listen(0, host)
  await once(server, 'listening')
  t.teardown(async () => {
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  })
  const base = `http://${host}:${(server.address() as AddressInfo).port}`

  return {
    url: (name) => `${base}/files/${encodeURIComponent(name)}`,
    redirectUrl: (name, hops) => `${base}/redirect/${hops}/${encodeURIComponent(name)}`,
    redirectTo: (target) => `${base}/to/${encodeURIComponent(target)}`,
    get received() {
      return stats.received
    },
    requests: (name) => counts.get(name) ?? 0,
    get abandoned() {
      return stats.abandoned
    },
    cutNext(name, bytes) {
      cuts.set(name, bytes)
    },
    sent(name, bytes) {
      return new Promise<void>((resolve) => {
        const check = () => {
          if ((progress.get(name) ?? 0) < bytes) return
          watchers.delete(check)
          resolve()
        }
        watchers.add(check)
        check()
      })
    }
  }
}
