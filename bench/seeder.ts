import path from 'node:path'
import { firstLine, spawnChild, stopChild, TSX_ENTRY } from './children.ts'

export interface SeedPeer {
  uri: string
  httpUrl: string
  sha256: string
  size: number
  stop(): Promise<void>
}

const PEER = path.join(import.meta.dirname, 'seed-peer.ts')

/** A child process serving `file` from a Hyperdrive on the loopback swarm and over HTTP on 127.0.0.1. */
export async function startSeedPeer(bootstrap: string, file: string): Promise<SeedPeer> {
  const child = spawnChild(process.execPath, [...TSX_ENTRY, PEER, bootstrap, file])
  try {
    const info = JSON.parse(await firstLine(child, 'seed peer', 120_000)) as Omit<SeedPeer, 'stop'>
    return { ...info, stop: () => stopChild(child) }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}
