import test from 'brittle'
import dgram from 'node:dgram'
import { runQvacd } from './helpers/cli.ts'
import { qvacdSession } from './helpers/cli-session.ts'
import { explainConnectFailure } from '../bin/format/connect-error.ts'
import { downloadToTable } from '../bin/format/download.ts'
import { QvacError } from '../shared/errors.ts'

test('a connect failure says which DHT it tried: the public HyperDHT without --bootstrap', (t) => {
  // The message alone: a test never sends a packet to the public DHT.
  const failed = new QvacError('CONNECT_FAILED', 'could not connect to KEY within 10000 ms')
  const publicDht = explainConnectFailure(failed, {}) as QvacError
  t.is(publicDht.name, 'CONNECT_FAILED')
  t.ok(publicDht.message.includes('over the public HyperDHT (no --bootstrap given'), publicDht.message)
  const local = explainConnectFailure(failed, { bootstrap: '127.0.0.1:49737' }) as QvacError
  t.ok(local.message.endsWith('over the DHT at 127.0.0.1:49737'), local.message)
  const other = new QvacError('REQUEST_TIMEOUT', 'x')
  t.is(explainConnectFailure(other, {}), other, 'other errors pass through')
})

test('a cache hit shows — for download time, speed and bytes; speeds in binary units like sizes', (t) => {
  const stats = {
    sourceType: 'http' as const,
    cacheHit: true,
    downloadTime: 0,
    totalDownloadTime: 1.5,
    totalBytesDownloaded: 0,
    bytesResumed: 0,
    downloadSpeedBps: 0,
    checksumValidationTime: 0
  }
  const hit = downloadToTable({ asset: { source: 'http://127.0.0.1/x.gguf', sha256: 'ab'.repeat(32), size: 669440 }, stats })
  t.ok(/DOWNLOAD TIME\s+—$/m.test(hit) && /SPEED\s+—$/m.test(hit) && /DOWNLOADED\s+—$/m.test(hit), JSON.stringify(hit))
  t.absent(/0 µs|0 B\/s/.test(hit), 'no zero that reads as a measurement')
  const fetched = downloadToTable({
    asset: { source: 'http://127.0.0.1/x.gguf', sha256: 'ab'.repeat(32), size: 3 * 1024 * 1024 },
    stats: { ...stats, cacheHit: false, downloadTime: 1000, totalBytesDownloaded: 3 * 1024 * 1024, downloadSpeedBps: 3 * 1024 * 1024 }
  })
  t.ok(/SIZE\s+3\.00 MiB$/m.test(fetched) && /SPEED\s+3\.00 MiB\/s$/m.test(fetched), JSON.stringify(fetched))
})

test('--sha256 is checked where it is typed, and the error names the option', async (t) => {
  const result = await runQvacd(['pull', 'x.gguf', '--sha256', 'deadbeef', '--storage', await t.tmp()])
  t.is(result.code, 2)
  t.is(result.stderr.trim(), "qvacd: option '--sha256 <hex>' argument 'deadbeef' is invalid. expected a SHA-256: 64 hex digits, got 8 character(s) (INVALID_ARGUMENT)")
  t.absent(result.stderr.includes('expectedSha256'))
})

test('qvacd testnet --port N fails when N is taken; --port 0 picks a free port and prints it', { timeout: 120_000 }, async (t) => {
  const taken = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', () => resolve()))
  t.teardown(() => taken.close())
  const port = taken.address().port
  const busy = await runQvacd(['testnet', '--port', String(port)])
  t.is(busy.code, 2)
  t.is(busy.stderr.trim(), `qvacd: UDP port ${port} on 127.0.0.1 is in use: choose another, or --port 0 to pick a free one (INVALID_ARGUMENT)`)

  const picked = qvacdSession(t, ['testnet', '--port', '0', '--json'])
  await picked.waitFor(/\n/)
  const info = JSON.parse(picked.stdout())
  t.ok(info.port > 0, `picked ${info.port}`)
  t.is(info.bootstrap.split(',')[0], `127.0.0.1:${info.port}`, 'and prints it as the bootstrap address')
  picked.child.kill('SIGTERM')
  t.is((await picked.exited).code, 0)
})

test('the demo says its model has random weights and where real GGUF models come from', { timeout: 180_000 }, async (t) => {
  const demo = await runQvacd(['demo', '--pings', '1'], 150_000)
  t.is(demo.code, 0, demo.stderr)
  t.ok(/random weights/.test(demo.stdout) && /gibberish/.test(demo.stdout), 'says gibberish is what such a model writes')
  t.ok(/huggingface\.co/.test(demo.stdout), 'points at real GGUF models')
})
