import test from 'brittle'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { loopbackTestnet } from './helpers/swarm.ts'
import { runQvacd, startQvacd } from './helpers/cli.ts'
import { connect, ErrorCode } from '../client/index.ts'
import { parsePrometheusText } from './helpers/openmetrics.ts'

const bootstrapArg = (testnet: { bootstrap: Array<{ host: string; port: number }> }) =>
  testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')

test('qvacd start and qvacd status work as separate processes: table, --json, --peer', async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const bootstrap = bootstrapArg(testnet)
  const { info } = await startQvacd(t, ['--topic', 'cli-test', '--storage', storage, '--bootstrap', bootstrap])
  t.is(info.publicKey.length, 52, 'prints its z32 public key')

  const table = await runQvacd(['status', '--storage', storage])
  t.is(table.code, 0, table.stderr)
  t.ok(table.stdout.includes(info.publicKey), 'table shows the key')
  t.ok(/TOPIC\s+cli-test/.test(table.stdout), 'table shows the topic')
  t.ok(/MODELS\s+none loaded/.test(table.stdout), 'table shows no models')
  t.ok(/IN FLIGHT\s+0/.test(table.stdout), 'table shows in-flight calls')

  const json = await runQvacd(['status', '--storage', storage, '--json'])
  t.is(json.code, 0, json.stderr)
  const status = JSON.parse(json.stdout)
  t.is(status.publicKey, info.publicKey)
  t.is(status.topicName, 'cli-test')
  t.is(status.topic, info.topic)
  t.alike(status.peers, [])

  const remote = await runQvacd(['status', '--peer', info.publicKey, '--bootstrap', bootstrap, '--json'])
  t.is(remote.code, 0, remote.stderr)
  const remoteStatus = JSON.parse(remote.stdout)
  t.is(remoteStatus.publicKey, info.publicKey, 'the remote daemon answered over the swarm')
  t.is(remoteStatus.peers.length, 1, 'and counts the asking peer')
})

test('qvacd status with no daemon running: one line on stderr, exit 1', async (t) => {
  const storage = await t.tmp()
  const result = await runQvacd(['status', '--storage', storage])
  t.is(result.code, 1)
  t.is(result.stdout, '')
  t.is(result.stderr.trim().split('\n').length, 1, result.stderr)
  t.ok(result.stderr.includes('DAEMON_NOT_RUNNING'))
})

test('a second qvacd start on the same storage dir is refused', async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const bootstrap = bootstrapArg(testnet)
  await startQvacd(t, ['--topic', 'cli-twice', '--storage', storage, '--bootstrap', bootstrap])
  const second = await runQvacd(['start', '--topic', 'cli-twice', '--storage', storage, '--bootstrap', bootstrap])
  t.is(second.code, 1)
  t.ok(second.stderr.includes('DAEMON_ALREADY_RUNNING'), second.stderr)
})

test('bad arguments give one clear line in the one error format and exit 2', async (t) => {
  const result = await runQvacd(['start', '--topic', 'x', '--storage', await t.tmp(), '--bootstrap', 'not-an-address'])
  t.is(result.code, 2)
  t.ok(result.stderr.includes('invalid bootstrap address "not-an-address"'), result.stderr)
  t.is(result.stderr.trim().split('\n').length, 1)

  const numeric = await runQvacd(['status', '--storage', await t.tmp(), '--timeout', 'abc'])
  t.is(numeric.code, 2, 'a number that is not one fails at once instead of never timing out')
  t.is(numeric.stderr.trim(), "qvacd: option '--timeout <ms>' argument 'abc' is invalid. expected a positive integer (INVALID_ARGUMENT)")

  const frames = await runQvacd(['start', '--topic', 'x', '--storage', await t.tmp(), '--frame-ms', '5000'])
  t.is(frames.code, 2)
  t.is(frames.stderr.trim(), "qvacd: option '--frame-ms <ms>' argument '5000' is invalid. expected at most 1000 ms (INVALID_ARGUMENT)")

  const missing = await runQvacd(['start'])
  t.is(missing.code, 2)
  t.ok(/^qvacd: required option '--topic <name>' not specified \(or QVACD_TOPIC, or "topic" in config\.json\) \(INVALID_ARGUMENT\)$/.test(missing.stderr.trim()), missing.stderr)
})

test('SIGTERM stops the daemon: clients see it leave, exit 0, no process or socket left behind', async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const { child, info, stderr } = await startQvacd(t, ['--topic', 'cli-term', '--storage', storage, '--bootstrap', bootstrapArg(testnet)])
  const client = await connect({ peer: info.publicKey, bootstrap: testnet.bootstrap })
  t.teardown(() => client.close())
  await client.ping()

  const disconnected = once(client, 'disconnect')
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const [code, signal] = await exited
  t.is(code, 0, `exit code 0 (${signal ?? 'no signal'})`)
  await disconnected
  t.pass('the client saw the daemon leave')
  t.ok(/SIGTERM/.test(stderr()) && /stopped/.test(stderr()), 'logged the shutdown')
  t.exception.all(() => process.kill(child.pid!, 0), /ESRCH/, 'no process left')
  t.absent(fs.existsSync(path.join(storage, 'qvacd.sock')), 'control socket removed')

  const err = await client.ping({ timeout: 1500 }).catch((e) => e)
  t.ok([ErrorCode.CONNECT_FAILED, ErrorCode.REQUEST_TIMEOUT].includes(err.code), `no daemon answers: ${err.name}`)
})

test('operator metrics: status --openmetrics and --metrics-port serve text a Prometheus parser reads', async (t) => {
  const testnet = await loopbackTestnet(t)
  const storage = await t.tmp()
  const { info } = await startQvacd(t, ['--topic', 'cli-metrics', '--storage', storage, '--bootstrap', bootstrapArg(testnet), '--metrics-port', '0'])
  const client = await connect({ peer: info.publicKey, bootstrap: testnet.bootstrap })
  t.teardown(() => client.close())
  for (let i = 0; i < 5; i++) await client.ping()

  const printed = await runQvacd(['status', '--storage', storage, '--openmetrics'])
  t.is(printed.code, 0, printed.stderr)
  t.ok(printed.stdout.trimEnd().endsWith('# EOF'))
  const ping = parsePrometheusText(printed.stdout).find((f) => f.name === 'qvacd_ping_total_server_seconds')
  t.is(ping?.type, 'SUMMARY')
  t.is(ping?.metrics[0].count, '5', 'five pings counted')

  t.ok(info.metrics?.startsWith('http://127.0.0.1:'), info.metrics ?? 'no metrics url')
  const res = await fetch(info.metrics as string)
  t.is(res.status, 200)
  t.ok(res.headers.get('content-type')?.startsWith('application/openmetrics-text'))
  const served = parsePrometheusText(await res.text()).map((f) => f.name)
  t.ok(served.includes('qvacd_ping_total_server_seconds'))
})
