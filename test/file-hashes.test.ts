import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import test from 'brittle'
import { BUSY_STEP_INTERVAL_MS, FileHashes, HASH_STEP_BYTES } from '../daemon/announce/file-sha256.ts'

async function settled(hashes: FileHashes, file: string, timeoutMs = 10_000): Promise<string> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const hash = hashes.get(file)
    if (hash !== '' || Date.now() > until) return hash
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

test('model files: the SHA-256, in steps spaced out while streams are served', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'qvacd-file-hashes-'))
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'model.gguf')
  const steps = 4
  const bytes = crypto.randomBytes((steps - 1) * HASH_STEP_BYTES + 17)
  await fs.writeFile(file, bytes)
  const expected = crypto.createHash('sha256').update(bytes).digest('hex')

  const serving = new FileHashes({ busy: () => true })
  const started = Date.now()
  t.is(serving.get(file), '', 'not known at first')
  t.is(await settled(serving, file), expected, 'completes while streams are served')
  // A wait follows every step but the last: never faster than that (timers do not fire early).
  t.ok(Date.now() - started >= (steps - 1) * BUSY_STEP_INTERVAL_MS - 5, `spaced out: ${Date.now() - started} ms for ${steps} steps`)

  t.is(await settled(new FileHashes(), file), expected, 'the same hash when idle')
  t.is(new FileHashes().get(path.join(dir, 'ab'.repeat(32))), 'ab'.repeat(32), 'a file in the content-addressed cache is named by its hash')
  t.is(await settled(new FileHashes(), path.join(dir, 'missing.gguf'), 300), '', 'an unreadable file has no hash')
})

test('model files: a hash is kept across restarts while the file is unchanged, never after a change', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'qvacd-file-hashes-'))
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'model.gguf')
  const recordFile = path.join(dir, 'file-hashes.json')
  await fs.writeFile(file, 'first version')
  // Older than two seconds: a file changed more recently is not kept (coarse timestamps).
  await new Promise((resolve) => setTimeout(resolve, 2100))
  const first = crypto.createHash('sha256').update('first version').digest('hex')

  t.is(await settled(new FileHashes({ recordFile }), file), first, 'hashed')
  let record: Record<string, { sha256: string }> = {}
  for (let i = 0; i < 100 && !record[file]; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    record = JSON.parse(await fs.readFile(recordFile, 'utf8').catch(() => '{}'))
  }
  t.is(record[file]?.sha256, first, 'kept in the record')

  // A restart with the record forged to a wrong hash for the unchanged file proves it is read, not recomputed.
  const forged = 'cd'.repeat(32)
  const raw = JSON.parse(await fs.readFile(recordFile, 'utf8'))
  raw[file].sha256 = forged
  await fs.writeFile(recordFile, JSON.stringify(raw))
  t.is(await settled(new FileHashes({ recordFile }), file), forged, 'an unchanged file is not read again')

  // The same size, written in place: a new ctime, so the record no longer matches.
  await fs.writeFile(file, 'other version')
  const second = crypto.createHash('sha256').update('other version').digest('hex')
  t.is(await settled(new FileHashes({ recordFile }), file), second, 'a changed file is hashed again')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.is(JSON.parse(await fs.readFile(recordFile, 'utf8'))[file].sha256, forged, 'a file changed this recently is not kept')

  await fs.writeFile(recordFile, '{"not json')
  t.is(await settled(new FileHashes({ recordFile }), file), second, 'a corrupt record is ignored')
})
