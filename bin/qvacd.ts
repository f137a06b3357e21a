// qvacd command line: argument parsing and printing; the work is in daemon/ and client/.
import { Command, InvalidArgumentError, Option } from 'commander'
import { SOFTWARE_VERSION } from '../shared/version.ts'
import { runStart } from './commands/start.ts'
import { runStatus } from './commands/status.ts'
import { runDemo } from './commands/demo.ts'
import { runTestnet } from './commands/testnet.ts'
import { fraction, runBench } from './commands/bench/command.ts'
import { fail } from './commands/fail.ts'
import { defaultStorage } from './commands/storage.ts'

const program = new Command()
  .name('qvacd')
  .description('Peer-to-peer model-serving daemon: LLM inference over a Hyperswarm topic')
  .version(SOFTWARE_VERSION)

const storageOption = () =>
  new Option('--storage <dir>', 'storage dir (keys, cache, control socket)').env('QVACD_STORAGE').default(defaultStorage())
const bootstrapOption = () =>
  new Option('--bootstrap <host:port,...>', 'DHT bootstrap nodes (default: the public HyperDHT)').env('QVACD_BOOTSTRAP')

program
  .command('start')
  .description('run a daemon that serves on a swarm topic')
  .requiredOption('--topic <name>', 'topic name to announce (its hash is the swarm topic)')
  .addOption(storageOption())
  .addOption(bootstrapOption())
  .option('--allow <key,...>', 'only these peer public keys may connect (z32 or hex)')
  .option('--threads <n>', 'inference threads for models loaded without a threads setting (default: cores - 1)', positiveInt)
  .option('--gpu', 'let the inference backend use a GPU if it finds one')
  .option('--max-tokens <n>', 'largest maxTokens a stream may ask for', positiveInt, 4096)
  .option('--max-queue-depth <n>', 'streams that may wait per model before QUEUE_FULL', positiveInt, 32)
  .option('--delegate-to <key>', 'forward loadModel (and so infer) to this provider daemon')
  .option('--fallback-to-local', 'with --delegate-to: load here when the provider is unreachable')
  .option('--metrics-port <port>', 'serve OpenMetrics at http://127.0.0.1:PORT/metrics (0: any free port)', port)
  .option('--debug', 'send internal error messages and stacks to callers')
  .option('--json', 'print the startup line as JSON')
  .action((opts) => runStart(opts))

program
  .command('status')
  .description("show what a daemon is doing: the local one, or a remote one with --peer")
  .addOption(storageOption())
  .option('--peer <key>', "ask a remote daemon over the swarm instead of the local one")
  .addOption(bootstrapOption())
  .option('--timeout <ms>', 'give up after this many ms', (v) => Number(v), 10000)
  .option('--json', 'print JSON instead of a table')
  .option('--openmetrics', 'print the operator metrics as OpenMetrics text')
  .action((opts) => runStatus(opts))

program
  .command('demo')
  .description('run everything on loopback: bootstrap, daemon, client; ping and status (what `npm start` runs)')
  .option('--pings <n>', 'number of pings', (v) => Number(v), 20)
  .action((opts) => runDemo(opts))

program
  .command('testnet')
  .description('run a DHT testnet on 127.0.0.1 and print its bootstrap address (local work, no internet)')
  .option('--nodes <n>', 'DHT nodes', (v) => Number(v), 5)
  .option('--port <port>', 'port of the first (bootstrap) node; 0 picks one', (v) => Number(v), 0)
  .option('--json', 'print the address as JSON')
  .action((opts) => runTestnet(opts))

program
  .command('bench')
  .description('measure qvacd against bare protomux-rpc, in-process node-llama-cpp, llama-server and gRPC, on loopback')
  .argument('[scenario...]', 'rpc, stream, llama-server, threads, grpc, cold-start, load, fetch (default: all)')
  .option('--quick', 'small fixed iteration counts, under 3 minutes on 2 cores (the default)')
  .option('--full', "the iteration counts BENCHMARKS.md reports; builds llama-server once if it is missing")
  .option('--json', 'print the report as JSON')
  .option('--save <file>', 'write the report as JSON: git SHA, date, machine, every figure')
  .option('--compare <files...>', 'compare two saved reports, OLD NEW: ratios and regressions (runs nothing)')
  .option('--threshold <fraction>', 'with --compare: flag a figure worse by more than this', fraction, 0.1)
  .action((scenarios, opts) => runBench(scenarios, opts))

program.parseAsync().catch(fail)

function port(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number (0-65535)')
  return n
}

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}
