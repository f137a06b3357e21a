import type { BlobId, BlobReadStream } from 'hyperdrive'
import type Hyperswarm from 'hyperswarm'
import type { PeerDiscovery } from 'hyperswarm'
import type Hypercore from 'hypercore'
import { QvacError } from '../../shared/errors.ts'
import { formatKey } from '../../shared/keys.ts'
import { abortError, untilAborted } from './abort.ts'
import { removePartial, type PartialFiles } from './cache.ts'
import type { DrivePool } from './drive-pool.ts'
import { FileSink } from './file-sink.ts'
import { checkDeclaredSize, checkFinalSize, type FetchLimits, type FetchResult } from './fetch-result.ts'
import type { DownloadReporter } from './progress.ts'

const RELOOKUP_FIRST_MS = 500
const RELOOKUP_MAX_MS = 8000

/**
 * Materializes a drive file into the partial file. Joins the drive's discovery key as a client,
 * updates, then streams the blob (hypercore prefetches it) through the hashing sink. Blocks are
 * verified into the corestore as they arrive, so an interrupted download fetches only what is
 * missing next time: `bytesResumed` is what the store already held. When every seeder leaves
 * mid-way it looks the drive up again until one is back, or gives up after `peerWaitMs`.
 */
export async function fetchFromDrive(opts: {
  drives: DrivePool
  swarm: Hyperswarm
  key: Buffer
  path: string
  source: string
  partial: PartialFiles
  limits: FetchLimits
  peerWaitMs: number
  signal: AbortSignal
  reporter: DownloadReporter
}): Promise<FetchResult> {
  const { swarm, key, path, source, limits, signal, reporter } = opts
  const started = performance.now()
  const drive = opts.drives.acquire(key)
  let discovery: PeerDiscovery | null = null
  let stopWatching = () => {}
  let sink: FileSink | null = null
  let complete = false
  try {
    await untilAborted(drive.ready(), signal)
    discovery = swarm.join(drive.discoveryKey, { server: false, client: true })
    const found = drive.findingPeers()
    swarm.flush().then(found, found)
    await untilAborted(drive.update(), signal)
    if (drive.core.length === 0) throw unavailable(key, 'no peer is seeding it')

    const entry = await untilAborted(drive.entry(path, { follow: true }), signal)
    if (!entry) {
      throw new QvacError('MODEL_NOT_FOUND', `no file ${path} in drive ${formatKey(key)}`, { details: { source } })
    }
    const blobs = await untilAborted(drive.getBlobs(), signal)
    const blob = entry.value.blob
    const size = blob ? await untilAborted(blobs.getByteLength(blob), signal) : 0
    checkDeclaredSize(size, limits, source)
    const local = blob === null || (await isLocal(blobs.core, blob))
    if (!local && drive.core.peers.length === 0) {
      throw unavailable(key, 'no peer is seeding it and this store holds only part of the file')
    }

    sink = await FileSink.open(opts.partial.file, { resume: false })
    const written = sink
    let fetched = 0
    const ondownload = (index: number, bytes: number) => {
      if (!blob || index < blob.blockOffset || index >= blob.blockOffset + blob.blockLength) return
      fetched += bytes
      reporter.progress(written.bytes, size, fetched)
    }
    blobs.core.on('download', ondownload)

    const read: BlobReadStream | null = blob ? blobs.createReadStream(blob) : null
    const onabort = () => read?.destroy(abortError(signal))
    signal.addEventListener('abort', onabort, { once: true })
    const stopRelookup = local
      ? () => {}
      : watchSeeders(blobs.core, discovery, opts.peerWaitMs, () =>
          read?.destroy(unavailable(key, `every seeder left and none came back within ${opts.peerWaitMs} ms; the blocks already here are kept`))
        )
    stopWatching = () => {
      blobs.core.off('download', ondownload)
      signal.removeEventListener('abort', onabort)
      stopRelookup()
    }

    if (read) {
      for await (const chunk of read) {
        checkFinalSize(sink.bytes + chunk.byteLength, size, limits, source, { partial: true })
        await sink.write(chunk)
        reporter.progress(sink.bytes, size, fetched)
      }
    }
    checkFinalSize(sink.bytes, size, limits, source, { partial: false })
    const sha256 = await sink.finish()
    complete = true
    reporter.flush()
    return {
      sha256,
      size,
      bytesDownloaded: fetched,
      bytesResumed: size - fetched,
      downloadMs: performance.now() - started,
      hashMs: sink.hashMs,
      via: []
    }
  } catch (err) {
    if (signal.aborted) throw abortError(signal)
    throw err
  } finally {
    stopWatching()
    await sink?.close()
    // The corestore keeps the verified blocks for a resume; a half-written copy has no use.
    if (!complete) await removePartial(opts.partial)
    await discovery?.destroy().catch(() => {})
    await opts.drives.release(drive).catch(() => {})
  }
}

function isLocal(core: Hypercore, blob: BlobId): Promise<boolean> {
  return blob.blockLength === 0 ? Promise.resolve(true) : core.has(blob.blockOffset, blob.blockOffset + blob.blockLength)
}

/**
 * While the blobs core has no peer, looks the drive up again with backoff (Hyperswarm itself
 * re-looks only every ~10 min), and calls `giveUp` after `waitMs` without one.
 */
function watchSeeders(core: Hypercore, discovery: PeerDiscovery, waitMs: number, giveUp: () => void): () => void {
  let timer: NodeJS.Timeout | null = null
  let deadline: NodeJS.Timeout | null = null
  let delay = RELOOKUP_FIRST_MS

  const relookup = () => {
    discovery.refresh().catch(() => {})
    delay = Math.min(delay * 2, RELOOKUP_MAX_MS)
    timer = setTimeout(relookup, delay)
  }
  const stop = () => {
    if (timer) clearTimeout(timer)
    if (deadline) clearTimeout(deadline)
    timer = deadline = null
    delay = RELOOKUP_FIRST_MS
  }
  const onremove = () => {
    if (core.peers.length > 0 || timer) return
    timer = setTimeout(relookup, delay)
    deadline = setTimeout(giveUp, waitMs)
  }
  const onadd = () => stop()

  core.on('peer-remove', onremove)
  core.on('peer-add', onadd)
  onremove()
  return () => {
    stop()
    core.off('peer-remove', onremove)
    core.off('peer-add', onadd)
  }
}

function unavailable(key: Buffer, why: string): QvacError {
  return new QvacError('SOURCE_UNAVAILABLE', `drive ${formatKey(key)} is unavailable: ${why}`, {
    details: { key: formatKey(key) }
  })
}
