import test from 'brittle'
import fs from 'node:fs/promises'
import path from 'node:path'
import { Command } from 'commander'
import { configurable } from '../bin/config.ts'
import { positiveInt, storageOption } from '../bin/options.ts'
import { isQvacError } from '../shared/errors.ts'
import { runQvacd } from './helpers/cli.ts'

/** A command shaped like `qvacd start`: parses argv with env and a storage dir, returns its options. */
async function parse(argv: string[], env: NodeJS.ProcessEnv, config?: object): Promise<Record<string, unknown>> {
  const storage = argv[argv.indexOf('--storage') + 1]
  if (config) await fs.writeFile(path.join(storage, 'config.json'), JSON.stringify(config))
  let seen: Record<string, unknown> = {}
  const cmd = configurable(
    new Command('start')
      .exitOverride()
      .requiredOption('--topic <name>', 'topic')
      .addOption(storageOption())
      .option('--max-tokens <n>', 'max tokens', positiveInt, 4096)
      .option('--threads <n>', 'threads', positiveInt)
      .option('--gpu', 'gpu')
      .option('--delegate-topic <name>', 'provider topic')
      .option('--allow-private-sources [cidr,...]', 'private ranges')
      .action((opts) => {
        seen = opts
      }),
    env
  )
  await cmd.parseAsync(argv, { from: 'user' })
  return seen
}

test('start options: flag over environment over config file over default', async (t) => {
  const storage = await t.tmp()
  const file = { topic: 'from-file', maxTokens: 100, threads: 3, 'delegate-topic': 'file-provider', gpu: true }
  const env = { QVACD_MAX_TOKENS: '200', QVACD_THREADS: '2' }
  const opts = await parse(['--storage', storage, '--max-tokens', '300'], env, file)
  t.is(opts.maxTokens, 300, 'flag wins')
  t.is(opts.threads, 2, 'environment over file')
  t.is(opts.topic, 'from-file', 'file over nothing (a required option may come from the file)')
  t.is(opts.delegateTopic, 'file-provider', 'file keys may be flag names')
  t.is(opts.gpu, true, 'booleans from the file')
  const defaults = await parse(['--storage', storage, '--topic', 't'], {}, {})
  t.is(defaults.maxTokens, 4096, 'default when nothing says otherwise')
  const fromEnv = await parse(['--storage', storage], { QVACD_TOPIC: 'env-topic', QVACD_GPU: 'false' }, {})
  t.is(fromEnv.topic, 'env-topic')
  t.is(fromEnv.gpu, false, 'QVACD_GPU=false is off, not "set"')
  const optional = await parse(['--storage', storage, '--topic', 't'], { QVACD_ALLOW_PRIVATE_SOURCES: 'true' }, {})
  t.is(optional.allowPrivateSources, true, 'an optional-value option: true is the bare flag')
  const ranges = await parse(['--storage', storage, '--topic', 't'], {}, { allowPrivateSources: '10.0.0.0/8' })
  t.is(ranges.allowPrivateSources, '10.0.0.0/8', 'or its value')
})

test('start options: bad values from the environment or the file are INVALID_ARGUMENT naming where', async (t) => {
  const storage = await t.tmp()
  for (const [env, file, where] of [
    [{ QVACD_MAX_TOKENS: 'abc' }, {}, 'QVACD_MAX_TOKENS'],
    [{}, { topic: 't', maxTokens: -1 }, 'maxTokens'],
    [{}, { topic: 't', maxTokns: 5 }, 'unknown option "maxTokns"'],
    [{ QVACD_GPU: 'maybe' }, { topic: 't' }, 'QVACD_GPU'],
    [{}, {}, 'QVACD_TOPIC']
  ] as const) {
    try {
      await parse(['--storage', storage], env, file)
      t.fail(`accepted ${JSON.stringify({ env, file })}`)
    } catch (err) {
      t.ok(isQvacError(err, 'INVALID_ARGUMENT') && err.message.includes(where), `${where}: ${(err as Error).message}`)
    }
  }
})

test('qvacd start reads <storage>/config.json and reports a bad one with exit 2', async (t) => {
  const storage = await t.tmp()
  await fs.writeFile(path.join(storage, 'config.json'), '{ "topic": "x", "maxTokens": "lots" }')
  const { code, stderr } = await runQvacd(['start', '--storage', storage])
  t.is(code, 2)
  t.ok(/config\.json: maxTokens: expected a positive integer \(INVALID_ARGUMENT\)/.test(stderr), stderr.trim())
})
