import Hyperdrive from 'hyperdrive'
import type Corestore from 'corestore'

/**
 * One open Hyperdrive per key, shared by the resolves that read it. A drive's db session is
 * exclusive within a store, so a second Hyperdrive on the same key would wait for the first to
 * close: two files of one drive would download one after the other.
 */
export class DrivePool {
  private readonly store: Corestore
  private readonly drives = new Map<string, { drive: Hyperdrive; users: number }>()

  constructor(store: Corestore) {
    this.store = store
  }

  acquire(key: Buffer): Hyperdrive {
    const id = key.toString('hex')
    let open = this.drives.get(id)
    if (!open) {
      open = { drive: new Hyperdrive(this.store.session(), key), users: 0 }
      this.drives.set(id, open)
    }
    open.users++
    return open.drive
  }

  /** Closes the drive once its last user let go. */
  async release(drive: Hyperdrive): Promise<void> {
    const id = drive.key.toString('hex')
    const open = this.drives.get(id)
    if (!open || open.drive !== drive || --open.users > 0) return
    this.drives.delete(id)
    await drive.close()
  }
}
