import fs from 'node:fs'
import crypto from 'node:crypto'
import path from 'node:path'
import Hyperdrive, { type BlobWriteStream, type DriveEntry } from 'hyperdrive'
import type Corestore from 'corestore'
import { QvacError } from '../../shared/errors.ts'
import type { Registry, RegistryEntry } from '../registry/registry.ts'
import { hashFile } from './file-sink.ts'
import { driveUri, normalizeDrivePath } from './source-uri.ts'

export interface PublishedFile {
  /** `hyperdrive://<z32 key>/<name>`, what resolveModel and registry entries take. */
  uri: string
  /** The drive's key and discovery key: join the latter as a server on a swarm to seed it. */
  key: Buffer
  discoveryKey: Buffer
  size: number
  sha256: string
  /** False when the drive already held this very file under this name. */
  written: boolean
  /** The registry entry, when one was asked for. */
  entry?: RegistryEntry
}

export interface PublishOptions {
  store: Corestore
  file: string
  /** Path inside the drive; the file's base name by default. */
  name?: string
  /** Also add the file to this (writable) registry under `registry.name`. */
  registry?: { registry: Registry; name: string; engine?: string; quantization?: string; description?: string }
}

// Every file a store publishes goes into one drive, so one discovery key seeds them all.
const PUBLISH_NAMESPACE = 'qvacd/publish'

/**
 * Puts a local file into the store's publish drive. The file is hashed first: publishing the same
 * file again under the same name writes nothing. The entry keeps `{ sha256 }` as metadata.
 */
export async function publishFile(opts: PublishOptions): Promise<PublishedFile> {
  const filePath = path.resolve(opts.file)
  const name = opts.name ?? path.basename(filePath)
  const drivePath = normalizeDrivePath(name.split('/'), name)
  const stat = await fs.promises.stat(filePath).catch(() => null)
  if (!stat?.isFile()) throw new QvacError('INVALID_ARGUMENT', `not a file: ${filePath}`)
  const { sha256 } = await hashFile(filePath)

  const drive = new Hyperdrive(opts.store.namespace(PUBLISH_NAMESPACE))
  let written = false
  try {
    await drive.ready()
    if (!isSameFile(await drive.entry(drivePath), sha256, stat.size)) {
      const copied = await copyInto(drive.createWriteStream(drivePath, { metadata: { sha256 } }), filePath)
      if (copied !== sha256) {
        await drive.del(drivePath)
        throw new QvacError('INVALID_ARGUMENT', `${filePath} changed while it was being published; try again`)
      }
      written = true
    }
    const published: PublishedFile = {
      uri: driveUri(drive.key, drivePath.slice(1)),
      key: drive.key,
      discoveryKey: drive.discoveryKey,
      size: stat.size,
      sha256,
      written
    }
    if (opts.registry) {
      const { registry, name: entryName, ...about } = opts.registry
      published.entry = await registry.add(entryName, { source: published.uri, sha256, size: stat.size, ...about })
    }
    return published
  } finally {
    await drive.close()
  }
}

function isSameFile(entry: DriveEntry | null, sha256: string, size: number): boolean {
  const metadata = entry?.value.metadata as { sha256?: unknown } | null | undefined
  return metadata?.sha256 === sha256 && entry?.value.blob?.byteLength === size
}

/** Streams the file into the drive with backpressure; returns the SHA-256 of what was written. */
async function copyInto(out: BlobWriteStream, filePath: string): Promise<string> {
  const hash = crypto.createHash('sha256')
  const closed = new Promise<void>((resolve, reject) => {
    out.once('error', reject)
    out.once('close', resolve)
  })
  const closedEarly = closed.then(() => {
    throw new Error('the drive closed its write stream early')
  })
  closedEarly.catch(() => {})
  try {
    for await (const chunk of fs.createReadStream(filePath)) {
      hash.update(chunk as Buffer)
      if (!out.write(chunk as Buffer)) await Promise.race([new Promise<void>((resolve) => out.once('drain', resolve)), closedEarly])
    }
  } catch (err) {
    out.destroy(err as Error)
    throw err
  }
  out.end()
  await closed
  return hash.digest('hex')
}
