#!/usr/bin/env node
// qvacd command line: argument parsing and printing; the work is in daemon/ and client/.
// Each command's module is imported only when that command runs, so `qvacd --help` and
// `qvacd status` never load the daemon, node-llama-cpp or the bench.
import { Command, Option } from 'commander'
import { SOFTWARE_VERSION } from '../shared/version.ts'
import { bootstrapOption, fraction, frameMs, nonNegativeInt, port, positiveInt, storageOption } from './options.ts'
import { fail } from './commands/fail.ts'
import { nonNegativeNumber, parseByteSize, parseDuration, sha256Hex } from './format/parse-units.ts'
import { configurable } from './config.ts'

// daemon/log.ts's LOG_LEVELS, repeated: importing that module would load pino for every command.
const LOG_LEVELS = ['silent', 'error', 'warn', 'info', 'debug', 'trace']

const program = new Command()
  .name('qvacd')
  .description('Peer-to-peer model-serving daemon: LLM inference over a Hyperswarm topic')
  .version(SOFTWARE_VERSION)
  // One error format for everything: commander's usage errors too, with exit 2.
  .configureOutput({ outputError: (text, write) => write(`qvacd: ${text.replace(/^error: /, '').trim()} (INVALID_ARGUMENT)\n`) })
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))

configurable(program
  .command('start')
  .description('run a daemon that serves on a swarm topic (every option also as QVACD_<OPTION> or in <storage>/config.json)')
  .requiredOption('--topic <name>', 'topic name to announce (its hash is the swarm topic)')
  .addOption(storageOption())
  .addOption(bootstrapOption())
  .option('--allow <key,...>', 'only these peer public keys may connect (z32 or hex)')
  .option('--threads <n>', 'inference threads for models loaded without a threads setting (default: all cores with the local OpenMP build, else cores - 1)', positiveInt)
  .option('--gpu', 'let the inference backend use a GPU if it finds one')
  .option('--max-tokens <n>', 'largest maxTokens a stream may ask for', positiveInt, 4096)
  .option('--max-queue-depth <n>', 'streams that may wait per model before QUEUE_FULL', positiveInt, 32)
  .option('--frame-ms <ms>', "while a stream's tokens come faster, send them in frames this far apart, 0-1000 (default 16; 0: a frame per token)", frameMs)
  .option('--delegate-to <key>', 'forward loadModel (and so infer) to this provider daemon')
  .option('--delegate-topic <name>', 'forward loadModel (and so infer) to the first daemon found on this topic')
  .option('--fallback-to-local', 'with --delegate-to/--delegate-topic: load here when no provider is reachable')
  .option('--metrics-port <port>', 'serve OpenMetrics at http://127.0.0.1:PORT/metrics (0: any free port)', port)
  .option('--registry <key>', 'the Hyperbee registry behind registry://NAME sources')
  .option('--max-download-bytes <n>', 'largest model file the daemon downloads', positiveInt)
  .option('--models-dir <dir>', 'the only dir remote peers may load local files from (default: none)')
  .option('--allow-private-sources [cidr,...]', 'let remote peers make the daemon fetch from private, loopback and link-local addresses: all, or only these ranges')
  .option('--keep-alive <duration>', 'unload a model idle this long (30s, 5m, 1h; 0: never)', parseDuration, 5 * 60_000)
  .option('--max-cache-size <size>', 'cache size limit, e.g. 20GiB: least recently used unloaded models are deleted (0: none)', parseByteSize, 0)
  .option('--max-context <tokens>', 'largest context a model may be loaded with (default 8192; the default context is min(trained, this))', positiveInt)
  .option('--max-sequences <n>', 'largest sequences (concurrent streams) per loaded model (default 16)', positiveInt)
  .option('--max-models <n>', 'models loaded at once; each distinct source + config is one (default 4)', positiveInt)
  .option('--max-memory <bytes>', "memory all models may take by node-llama-cpp's estimate (default: free memory less 512 MiB)", positiveInt)
  .option('--max-prompt-bytes <n>', 'largest prompt of an infer request, UTF-8 bytes (default 1 MiB)', positiveInt)
  .option('--peer-max-streams <n>', 'infer streams one remote peer may run at once (default 4)', positiveInt)
  .option('--peer-max-queued <n>', 'infer streams one remote peer may have waiting (default 8)', positiveInt)
  .option('--peer-loads-per-minute <n>', 'loadModel + downloadAsset calls per remote peer per minute (default 30)', positiveInt)
  .option('--peer-download-bytes-per-hour <n>', 'bytes downloaded for one remote peer per hour (default 8 GiB)', positiveInt)
  .option('--idle-timeout <ms>', 'drop a swarm peer silent for this long (default 4000; qvacd peers keep alive every 1 s)', positiveInt)
  .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
  .option('--debug', 'the same as --log-level debug')
  .option('--expose-errors', "send internal error messages and stacks to callers (reveals the host's internals: never on a public topic)")
  .option('--json', 'print the startup line as JSON')
  .action(async (opts) => (await import('./commands/start.ts')).runStart(opts)))

program
  .command('status')
  .description("show what a daemon is doing: the local one, a remote one with --peer, or every daemon on a topic with --topic")
  .addOption(storageOption())
  .option('--peer <key>', "ask a remote daemon over the swarm instead of the local one")
  .option('--topic <name>', 'every daemon announcing this topic: load, models, round-trip time')
  .addOption(bootstrapOption())
  .option('--timeout <ms>', 'give up after this many ms', positiveInt, 10000)
  .option('--json', 'print JSON instead of a table')
  .option('--openmetrics', 'print the operator metrics as OpenMetrics text')
  .action(async (opts) => (await import('./commands/status.ts')).runStatus(opts))

program
  .command('pull')
  .description('have the daemon fetch a model source into its cache (progress bar, then the download stats)')
  .argument('<source>', 'hyperdrive://KEY/path, pear://KEY/path, registry://NAME, http(s)://…, a path or file://')
  .addOption(storageOption())
  .option('--peer <key>', 'ask a remote daemon over the swarm instead of the local one')
  .addOption(bootstrapOption())
  .option('--sha256 <hex>', 'the file must have this SHA-256', sha256Hex)
  .option('--timeout <ms>', 'give up after this many ms', positiveInt)
  .option('--json', 'print the stats as JSON')
  .action(async (source, opts) => (await import('./commands/pull.ts')).runPull(source, opts))

program
  .command('publish')
  .description('put a file into a Hyperdrive of this storage and seed it until Ctrl-C; prints its hyperdrive:// URI')
  .argument('<file>', 'the model file')
  .addOption(storageOption())
  .addOption(bootstrapOption())
  .option('--name <name>', 'its path in the drive and its registry name (default: the file name)')
  .option('--registry <key>', "also add it to this storage's registry (its key, from qvacd registry create)")
  .option('--engine <engine>', 'registry field')
  .option('--quantization <q>', 'registry field')
  .option('--description <text>', 'registry field')
  .option('--no-seed', 'publish and exit without seeding')
  .option('--json', 'print the result as JSON')
  .action(async (file, opts) => (await import('./commands/publish.ts')).runPublish(file, opts))

const registry = program.command('registry').description('the Hyperbee model registry behind registry://NAME')
registry
  .command('create')
  .description("this storage's registry (one per storage); prints its key")
  .addOption(storageOption())
  .option('--json', 'print the key as JSON')
  .action(async (opts) => (await import('./commands/registry.ts')).runRegistryCreate(opts))
registry
  .command('add')
  .description("add or replace an entry in this storage's registry")
  .argument('<name>', 'the model name (registry://NAME)')
  .argument('<source>', 'a hyperdrive:// or http(s):// URI')
  .requiredOption('--sha256 <hex>', "the file's SHA-256", sha256Hex)
  .requiredOption('--size <bytes>', "the file's size", nonNegativeInt)
  .option('--engine <engine>', 'e.g. llama.cpp')
  .option('--quantization <q>', 'e.g. Q4_K_M')
  .option('--description <text>', 'free text')
  .addOption(storageOption())
  .option('--json', 'print the entry as JSON')
  .action(async (name, source, opts) => (await import('./commands/registry.ts')).runRegistryAdd(name, source, opts))
registry
  .command('list')
  .description("list a registry: this storage's, or another one's over the swarm")
  .option('--registry <key>', "another registry's key (found over the swarm)")
  .addOption(storageOption())
  .addOption(bootstrapOption())
  .option('--timeout <ms>', "with --registry: how long to look for a peer that has it", positiveInt, 15000)
  .option('--json', 'print JSON')
  .action(async (opts) => (await import('./commands/registry.ts')).runRegistryList(opts))

// Model management, as Ollama's CLI: run, list, rm, ps, load, unload; and the tiny test model.
// They reach the local daemon through its control socket, or a remote one with --peer / --topic.
const daemonTarget = (command: Command, timeout?: number) =>
  command
    .addOption(storageOption())
    .option('--peer <key>', 'a remote daemon over the swarm instead of the local one')
    .option('--topic <name>', 'the first daemon found on this topic instead of the local one')
    .addOption(bootstrapOption())
    .option('--timeout <ms>', 'give up after this many ms', positiveInt, timeout)
    .option('--json', 'print JSON')

daemonTarget(
  program
    .command('run')
    .description('chat with a model: answer PROMPT (or stdin), or chat interactively when there is neither; loads the model if needed')
    .argument('<source>', 'a model source, as for pull (a path, hyperdrive://…, registry://NAME, …)')
    .argument('[prompt...]', 'the prompt; without one (and with a terminal): an interactive chat')
    .option('--max-tokens <n>', 'longest answer, in tokens', positiveInt, 512)
    .option('--temperature <t>', 'sampling temperature (0: greedy)', nonNegativeNumber)
    .option('--seed <n>', 'sampling seed', nonNegativeInt)
    .option('--system <text>', 'a system message opening the conversation')
    .option('--context-size <n>', 'context size in tokens, when this run loads the model', positiveInt)
    .option('--chat', 'chat even when stdin is not a terminal: each line a turn')
    .option('--verbose', 'print timings after each answer: TTFT, prompt eval, tokens/s, where the time went')
).action(async (source, prompt, opts) => (await import('./commands/run.ts')).runRun(source, prompt, opts))

daemonTarget(program.command('list').description("the daemon's cached models: sources, SHA-256, size, last use, loaded or not")).action(
  async (opts) => (await import('./commands/list.ts')).runList(opts)
)

daemonTarget(
  program
    .command('rm')
    .description('delete a cached model and free its disk (a loaded one only with --force)')
    .argument('<model>', 'a source as pulled, or a SHA-256 (8 or more hex digits)')
    .option('--force', 'unload it first if it is loaded')
).action(async (target, opts) => (await import('./commands/rm.ts')).runRm(target, opts))

daemonTarget(program.command('ps').description('the loaded models: memory, streams, idle time, when the keep-alive unloads them')).action(
  async (opts) => (await import('./commands/ps.ts')).runPs(opts)
)

daemonTarget(
  program
    .command('load')
    .description('load a model on the daemon and print its id')
    .argument('<source>', 'a model source, as for pull')
    .option('--context-size <n>', 'context size in tokens', positiveInt)
    .option('--sequences <n>', 'streams it serves at once', positiveInt)
    .option('--threads <n>', 'inference threads', positiveInt)
).action(async (source, opts) => (await import('./commands/load.ts')).runLoad(source, opts))

daemonTarget(
  program.command('unload').description('drop a reference to a loaded model (freed when none is left)').argument('<id>', 'the model id (qvacd ps)')
).action(async (modelId, opts) => (await import('./commands/unload.ts')).runUnload(modelId, opts))

program
  .command('model')
  .description('write test models')
  .command('tiny')
  .description('write the tiny random-weights llama GGUF the tests use (about 650 KiB; it answers with gibberish)')
  .argument('<out>', 'where to write it, e.g. tiny.gguf')
  .option('--seed <n>', 'another seed writes other weights (another SHA-256)', nonNegativeInt)
  .option('--json', 'print JSON')
  .action(async (out, opts) => (await import('./commands/model.ts')).runModelTiny(out, opts))

program
  .command('demo')
  .description('run everything on loopback: bootstrap, daemon, client; ping and status (what `npm start` runs)')
  .option('--pings <n>', 'number of pings', positiveInt, 20)
  .action(async (opts) => (await import('./commands/demo.ts')).runDemo(opts))

program
  .command('testnet')
  .description('run a DHT testnet on 127.0.0.1 and print its bootstrap address (local work, no internet)')
  .option('--nodes <n>', 'DHT nodes', positiveInt, 5)
  .option('--port <port>', 'port of the first (bootstrap) node; 0 picks one', port, 0)
  .option('--json', 'print the address as JSON')
  .action(async (opts) => (await import('./commands/testnet.ts')).runTestnet(opts))

program
  .command('gateway')
  .description('serve the OpenAI HTTP API (chat, completions, embeddings) in front of a daemon: local, --peer or --topic')
  .option('--topic <name>', 'use the daemons on this topic (first to answer)')
  .option('--peer <key>', 'use this daemon over the swarm')
  .addOption(bootstrapOption())
  .addOption(storageOption())
  .option('--host <host>', 'address to listen on (anything but loopback needs --api-key)', '127.0.0.1')
  .option('--port <port>', 'port to listen on (0: any free port)', port, 11435)
  .addOption(new Option('--api-key <key>', 'require Authorization: Bearer KEY').env('QVACD_API_KEY'))
  .option('--model <name=source>', 'serve NAME from SOURCE, loaded on first use (repeatable)', (v: string, all: string[]) => [...all, v], [])
  .option('--timeout <ms>', 'deadline of each daemon call unless the request sends qvacd-timeout-ms', positiveInt)
  .option('--json', 'print the startup line as JSON')
  .action(async (opts) => (await import('./commands/gateway.ts')).runGateway(opts))

program
  .command('bench')
  .description('measure qvacd against bare protomux-rpc, in-process node-llama-cpp, llama-server and gRPC, on loopback')
  .argument('[scenario...]', 'rpc, stream, llama-server, threads, grpc, cold-start, load, fetch, gateway (default: all)')
  .option('--quick', 'small fixed iteration counts, under 3 minutes on 2 cores (the default)')
  .option('--full', "the iteration counts BENCHMARKS.md reports; builds llama-server once if it is missing")
  .option('--json', 'print the report as JSON')
  .option('--save <file>', 'write the report as JSON: git SHA, date, machine, every figure')
  .option('--compare <files...>', 'compare two saved reports, OLD NEW: ratios and regressions (runs nothing)')
  .option('--threshold <fraction>', 'with --compare: flag a figure worse by more than this', fraction, 0.1)
  .action(async (scenarios, opts) => (await import('../bench/command.ts')).runBench(scenarios, opts))

program.parseAsync().catch(fail)
