import { Daemon, consoleLogger, type LogLevel } from '../../daemon/index.ts'
import { parseBootstrap } from '../../client/dht.ts'
import { formatKey, parseKey } from '../../shared/keys.ts'
import { controlSocketPath } from '../../shared/control-path.ts'
import { SOFTWARE_VERSION } from '../../shared/version.ts'

const SHUTDOWN_LIMIT_MS = 5000

export async function runStart(opts: {
  topic: string
  storage: string
  bootstrap?: string
  allow?: string
  threads?: number
  gpu?: boolean
  maxTokens: number
  maxQueueDepth: number
  frameMs?: number
  delegateTo?: string
  delegateTopic?: string
  fallbackToLocal?: boolean
  metricsPort?: number
  registry?: string
  maxDownloadBytes?: number
  modelsDir?: string
  allowPrivateSources?: boolean | string
  keepAlive: number
  maxCacheSize: number
  maxContext?: number
  maxSequences?: number
  maxModels?: number
  maxMemory?: number
  maxPromptBytes?: number
  peerMaxStreams?: number
  peerMaxQueued?: number
  peerLoadsPerMinute?: number
  peerDownloadBytesPerHour?: number
  idleTimeout?: number
  logLevel: LogLevel
  /** An alias of --log-level debug. */
  debug?: boolean
  exposeErrors?: boolean
  json?: boolean
}): Promise<void> {
  const log = consoleLogger({ level: opts.debug ? 'debug' : opts.logLevel })
  const daemon = new Daemon({
    topic: opts.topic,
    storage: opts.storage,
    bootstrap: opts.bootstrap ? parseBootstrap(opts.bootstrap) : undefined,
    allow: opts.allow ? opts.allow.split(',').map((k) => parseKey(k.trim(), 'allowlist key')) : [],
    threads: opts.threads,
    gpu: opts.gpu ? 'auto' : false,
    maxTokens: opts.maxTokens,
    maxQueueDepth: opts.maxQueueDepth,
    frameMs: opts.frameMs,
    delegateTo: opts.delegateTo ? parseKey(opts.delegateTo, 'provider key') : undefined,
    delegateTopic: opts.delegateTopic,
    fallbackToLocal: opts.fallbackToLocal,
    metricsPort: opts.metricsPort,
    registry: opts.registry ? parseKey(opts.registry, 'registry key') : undefined,
    maxDownloadBytes: opts.maxDownloadBytes,
    modelsDir: opts.modelsDir,
    allowPrivateSources: typeof opts.allowPrivateSources === 'string' ? opts.allowPrivateSources.split(',') : opts.allowPrivateSources,
    keepAliveMs: opts.keepAlive,
    cacheMaxBytes: opts.maxCacheSize,
    limits: definedOnly({
      maxContext: opts.maxContext,
      maxSequences: opts.maxSequences,
      maxModels: opts.maxModels,
      maxMemory: opts.maxMemory,
      maxPromptBytes: opts.maxPromptBytes
    }),
    peerLimits: definedOnly({
      maxStreams: opts.peerMaxStreams,
      maxQueued: opts.peerMaxQueued,
      loadsPerMinute: opts.peerLoadsPerMinute,
      downloadBytesPerHour: opts.peerDownloadBytesPerHour
    }),
    idleTimeoutMs: opts.idleTimeout,
    exposeErrors: opts.exposeErrors,
    log
  })

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      log.info(`${signal} again: exiting now`)
      process.exit(1)
    }
    stopping = true
    log.info(`${signal}: finishing in-flight calls and leaving the topic`)
    const limit = setTimeout(() => {
      log.error(`shutdown took over ${SHUTDOWN_LIMIT_MS} ms: exiting anyway`)
      process.exit(1)
    }, SHUTDOWN_LIMIT_MS)
    daemon.close().then(
      () => {
        clearTimeout(limit)
        log.info('stopped')
        process.exit(0)
      },
      (err) => {
        log.error('shutdown failed', err)
        process.exit(1)
      }
    )
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))

  await daemon.ready()

  const info = {
    version: SOFTWARE_VERSION,
    publicKey: formatKey(daemon.publicKey),
    topic: daemon.topic.toString('hex'),
    topicName: daemon.topicName,
    storage: daemon.storage,
    controlSocket: controlSocketPath(daemon.storage),
    metrics: daemon.metricsPort === null ? null : `http://127.0.0.1:${daemon.metricsPort}/metrics`
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify(info) + '\n')
  } else {
    process.stdout.write(
      [
        `qvacd ${info.version} serving`,
        `  public key  ${info.publicKey}`,
        `  topic       ${info.topicName} (${info.topic})`,
        `  storage     ${info.storage}`,
        `  status      qvacd status --storage ${info.storage}`,
        ...(info.metrics ? [`  metrics     ${info.metrics}`] : []),
        ''
      ].join('\n')
    )
  }
}

/** The flags given, so the daemon's defaults fill the rest. */
function definedOnly<T extends Record<string, number | undefined>>(values: T): Partial<Record<keyof T, number>> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<Record<keyof T, number>>
}
