import ReadyResource from 'ready-resource'
import fs from 'node:fs/promises'
import path from 'node:path'
import Corestore from 'corestore'
import type { KeyPair } from 'hypercore-crypto'
import type { BootstrapNode } from 'hyperdht'
import { createDht } from '../client/dht.ts'
import { formatKey, topicFromName } from '../shared/keys.ts'
import { QvacError } from '../shared/errors.ts'
import { connectToDaemon } from '../client/connect-daemon.ts'
import { DaemonSet } from '../client/topic/daemon-set.ts'
import { TopicClient } from '../client/topic/topic-client.ts'
import { openClient } from '../client/qvac-client.ts'
import { Profiler } from '../client/profiler/profiler.ts'
import b4a from 'b4a'
import { controlSocketPath } from '../shared/control-path.ts'
import { ControlSocket } from './control-socket.ts'
import { MetricsServer } from './metrics-server.ts'
import { SwarmHost } from './swarm-host.ts'
import { RpcRouter } from './rpc/router.ts'
import { ping } from './rpc/ping.ts'
import { statusHandler } from './rpc/status.ts'
import { loadModelHandler, unloadModelHandler } from './rpc/models.ts'
import { downloadAssetHandler } from './rpc/download.ts'
import { cancelHandler, inferHandler } from './rpc/infer.ts'
import { embedHandler } from './rpc/embed.ts'
import { silentLogger, type Logger } from './log.ts'
import { LlamaBackend } from './inference/backend.ts'
import { ModelManager } from './inference/model-manager.ts'
import { ModelResolver } from './resolve/resolver.ts'
import { SourcePolicy, type SourceAccess } from './resolve/source-access.ts'
import { parseSource } from './resolve/source-uri.ts'
import { Providers } from './delegation/providers.ts'
import { Delegation } from './delegation/delegation.ts'
import { KeepAlive } from './inference/keep-alive.ts'
import { CacheKeeper } from './cache/cache-keeper.ts'
import { listCacheHandler, listLoadedHandler, removeCacheHandler } from './rpc/cache.ts'
import { PeerLimits } from './limits/peer-limits.ts'
import { DEFAULT_RESOURCE_LIMITS, type PeerLimitOptions, type ResourceLimits } from './limits/defaults.ts'
import { LoadAnnouncer } from './announce/load-announcer.ts'
import { ServerMetrics } from './metrics/server-metrics.ts'
import { FileHashes } from './announce/file-sha256.ts'
import { defaultThreads } from './inference/backend.ts'

export interface DaemonOptions {
  /** Topic name; the swarm topic is its hash (shared/keys.ts). */
  topic: string
  /** Storage dir: corestore (and with it the daemon's key pair) and the control socket. */
  storage: string
  /** DHT bootstrap nodes; omitted means the public HyperDHT. */
  bootstrap?: BootstrapNode[]
  /** Peer public keys allowed to connect; empty allows everyone. */
  allow?: Buffer[]
  log?: Logger
  /** Send internal error messages and stacks to callers (never on a public topic: reveals the host). */
  exposeErrors?: boolean
  /** Overrides the protocol version spoken (compatibility tests only). */
  protocolVersion?: number
  /** Inference threads for models loaded without a threads setting (default: backend.ts defaultThreads). */
  threads?: number
  /** GPU use of the inference backend: 'auto' detects one, false stays on the CPU (default). */
  gpu?: 'auto' | false
  /** The largest maxTokens an infer request may ask for (default 4096). */
  maxTokens?: number
  /** Streams that may wait per model before QUEUE_FULL, unless loadModel sets it (default 32). */
  maxQueueDepth?: number
  /** How far apart a stream's frames leave while its tokens come faster, ms (default 16; 0: a frame per token). */
  frameMs?: number
  /** A provider daemon that loadModel (and so infer) is forwarded to unless a call says otherwise. */
  delegateTo?: Buffer
  /** Or: forward to whichever daemon announces this topic name (found when first needed). */
  delegateTopic?: string
  /** With delegateTo / delegateTopic: load here when no provider can be reached. */
  fallbackToLocal?: boolean
  /** How long to try reaching a provider (default 10 s). */
  providerConnectTimeout?: number
  /** Serve OpenMetrics at http://127.0.0.1:PORT/metrics (0 picks a port; see metricsPort). */
  metricsPort?: number
  /** The Hyperbee registry behind `registry://NAME` sources. */
  registry?: Buffer
  /** Largest model file the daemon downloads (bytes; default unlimited). */
  maxDownloadBytes?: number
  /** The only dir remote peers may load local files from (symlinks resolved); unset: no local files for them. */
  modelsDir?: string
  /** Let remote peers fetch from private, loopback and link-local addresses: all (true) or these CIDR ranges. */
  allowPrivateSources?: boolean | string[]
  /** Unload a model idle this long (ms; 0 or omitted: never). `qvacd start` defaults to 5 min, as Ollama. */
  keepAliveMs?: number
  /** Cache size limit (bytes; 0 or omitted: none): least recently used unloaded models are deleted. */
  cacheMaxBytes?: number
  /** Context, sequences, models, memory and prompt bounds (daemon/limits/defaults.ts). */
  limits?: Partial<ResourceLimits>
  /** What one remote peer may use (the control socket is exempt). */
  peerLimits?: Partial<PeerLimitOptions>
  /** A swarm peer that sends nothing for this long is dropped (ms, default 4000; qvacd peers send every 1 s). */
  idleTimeoutMs?: number
}

const KEY_PAIR_NAME = 'qvacd/daemon'

/**
 * A qvacd daemon: owns a corestore, a key pair derived from it (stable across restarts), the
 * swarm presence and the control socket. `ready()` opens them in order, `close()` in reverse;
 * both are idempotent (ready-resource): a second `ready()` waits for the first, `close()` during
 * `ready()` waits for it and then closes, a second `close()` waits for the first.
 * Events from the swarm host are re-emitted: peer-joined, peer-left, peer-refused, protocol-mismatch.
 */
export class Daemon extends ReadyResource {
  readonly topicName: string
  readonly topic: Buffer
  readonly storage: string
  readonly router: RpcRouter
  readonly models: ModelManager
  readonly peerLimits: PeerLimits
  keyPair: KeyPair | null = null
  startedAt = 0

  private readonly opts: DaemonOptions
  private readonly log: Logger
  store: Corestore | null = null
  host: SwarmHost | null = null
  resolver: ModelResolver | null = null
  private control: ControlSocket | null = null
  private metricsServer: MetricsServer | null = null
  /** The port /metrics is served on, once ready (when metricsPort was given). */
  metricsPort: number | null = null
  private readonly backend: LlamaBackend
  private readonly delegation: Delegation
  private readonly sources: SourcePolicy
  private readonly keepAlive: KeepAlive
  cache: CacheKeeper | null = null
  /** Tells every connected peer this daemon's load (DESIGN.md's `load` event). */
  readonly announcer: LoadAnnouncer
  /** Counters, gauges and GenAI histograms for /metrics. */
  readonly serverMetrics: ServerMetrics
  /** The local file of each source loaded (for the hash the announcements carry). */
  private readonly modelFiles = new Map<string, string>()

  constructor(opts: DaemonOptions) {
    super()
    this.opts = opts
    this.topicName = opts.topic
    this.topic = topicFromName(opts.topic)
    this.storage = path.resolve(opts.storage)
    this.log = opts.log ?? silentLogger
    this.router = new RpcRouter({ log: this.log, exposeErrors: opts.exposeErrors })
    this.sources = new SourcePolicy({ storage: this.storage, modelsDir: opts.modelsDir, allowPrivateSources: opts.allowPrivateSources })
    this.backend = new LlamaBackend({ log: this.log, gpu: opts.gpu ?? false })
    this.models = new ModelManager({
      backend: this.backend,
      resolve: (source, { signal, access }) => this.resolveModel(source, signal, access),
      log: this.log,
      threads: opts.threads,
      maxQueueDepth: opts.maxQueueDepth,
      limits: opts.limits
    })
    this.keepAlive = new KeepAlive({ ms: opts.keepAliveMs ?? 0, models: this.models, log: this.log })
    this.peerLimits = new PeerLimits(opts.peerLimits)
    const providers = new Providers({
      allow: opts.allow ?? [],
      dial: (peer, signal) => {
        if (!this.host || !this.keyPair) throw new QvacError('DAEMON_SHUTTING_DOWN', 'the daemon is not running')
        return connectToDaemon(this.host.swarm.dht, {
          peer,
          keyPair: this.keyPair,
          timeoutMs: opts.providerConnectTimeout ?? 10_000,
          signal
        })
      }
    })
    this.delegation = new Delegation({
      providers,
      defaultTarget: opts.delegateTo ? { peer: opts.delegateTo, fallbackToLocal: opts.fallbackToLocal ?? false } : null,
      defaultTopic: opts.delegateTopic
        ? { topic: topicFromName(opts.delegateTopic), fallbackToLocal: opts.fallbackToLocal ?? false }
        : null,
      openTopic: () => this.openDelegationTopic()
    })
    this.announcer = this.createAnnouncer()
    this.serverMetrics = new ServerMetrics({
      methods: () => this.router.methodStats(),
      models: () => this.models.list(),
      streams: () => this.router.streams()
    })
    this.registerMethods()
  }

  /** The client over the delegation topic: this daemon's DHT and key, itself and keys outside its allowlist left out. */
  private async openDelegationTopic(): Promise<TopicClient> {
    if (!this.host || !this.keyPair || !this.opts.delegateTopic) throw new QvacError('DAEMON_SHUTTING_DOWN', 'the daemon is not running')
    const own = this.keyPair.publicKey
    const allow = this.opts.allow ?? []
    const daemons = new DaemonSet({
      dht: this.host.swarm.dht,
      topic: topicFromName(this.opts.delegateTopic),
      keyPair: this.keyPair,
      profiler: new Profiler(),
      accept: (key) => !b4a.equals(key, own) && (allow.length === 0 || allow.some((k) => b4a.equals(k, key)))
    })
    const client = new TopicClient(daemons, { connectTimeout: this.opts.providerConnectTimeout ?? 10_000, onclose: async () => {} })
    return (await openClient(client)) as TopicClient
  }

  private createAnnouncer(): LoadAnnouncer {
    const hashes = new FileHashes({ busy: () => this.router.streams().length > 0, recordFile: path.join(this.storage, 'file-hashes.json') })
    return new LoadAnnouncer({
      models: () =>
        this.models.list().map((m) => ({
          modelId: m.modelId,
          // Announced to every peer: no host path outside the models dir.
          source: this.sources.shownToRemote(m.source),
          sequences: m.sequences,
          busy: m.activeStreams,
          queued: m.queuedStreams
        })),
      // loaded(), not get(): reading a model for an announcement must not count as using it (keep-alive).
      sha256: (modelId) => {
        const source = this.models.loaded().find((m) => m.modelId === modelId)?.source ?? ''
        // A local file outside the models dir: neither its path nor its hash is announced.
        return this.sources.shownToRemote(source) === source ? hashes.get(this.modelFiles.get(source)) : ''
      },
      openStreams: () => this.router.streams().length,
      metrics: () => this.router.metrics.exportJSON().metrics,
      backend: () => {
        const [first] = this.models.loaded()
        return first ? first.info.backendDevice : this.opts.gpu === 'auto' ? 'auto' : 'cpu'
      },
      threads: this.opts.threads ?? defaultThreads(),
      channels: () => this.host?.channels() ?? []
    })
  }

  private registerMethods(): void {
    const daemon = this
    this.router.handle('ping', ping)
    this.router.handle(
      'status',
      statusHandler({
        get publicKey() {
          return daemon.publicKey
        },
        get startedAt() {
          return daemon.startedAt
        },
        topic: this.topic,
        topicName: this.topicName,
        peers: () => this.host?.peers() ?? [],
        models: () => this.models.list(),
        streams: () => this.router.streams(),
        inFlight: () => this.router.inFlightCount,
        methods: () => this.router.methodStats(),
        metrics: () => this.router.metrics.exportJSON().metrics,
        peerLimits: this.peerLimits.limits,
        peerUsage: () => this.peerLimits.usage(),
        backend: () => this.backend.status(),
        load: () => this.announcer.report(),
        shownToRemote: (source) => this.sources.shownToRemote(source)
      })
    )
    const download = this.serverMetrics.meterDownloads(downloadAssetHandler(() => this.resolver, this.delegation, this.sources))
    const bytesDownloaded = (response: { stats: { totalBytesDownloaded: number } }) => response.stats.totalBytesDownloaded
    this.router.handle(
      'downloadAsset',
      this.peerLimits.limitLoads(async (request, ctx) => {
        const result = await download(request, ctx)
        await this.noteUsed(request.source, result.asset.sha256)
        return result
      }, bytesDownloaded)
    )
    this.router.handle('loadModel', this.peerLimits.limitLoads(this.serverMetrics.meterDownloads(loadModelHandler(this.models, this.delegation, this.sources)), bytesDownloaded))
    this.router.handle('unloadModel', unloadModelHandler(this.models, this.delegation))
    const maxPromptBytes = this.opts.limits?.maxPromptBytes ?? DEFAULT_RESOURCE_LIMITS.maxPromptBytes
    this.router.handle(
      'infer',
      this.serverMetrics.meterInfer(inferHandler({
        models: this.models,
        delegation: this.delegation,
        limits: { maxTokens: this.opts.maxTokens ?? 4096, maxWindow: 256, maxPromptBytes },
        peerLimits: this.peerLimits,
        log: this.log,
        exposeErrors: this.opts.exposeErrors,
        frameMs: this.opts.frameMs
      }))
    )
    this.router.handle('cancel', cancelHandler())
    this.router.handle('listCache', listCacheHandler(() => this.cache))
    this.router.handle('removeCache', removeCacheHandler(() => this.cache))
    this.router.handle('listLoaded', listLoadedHandler(this.models, this.keepAlive, (source) => this.sources.shownToRemote(source)))
    this.router.handle('embed', embedHandler(this.models, this.delegation, { maxPromptBytes }))
  }

  private async resolveModel(source: string, signal: AbortSignal, access: SourceAccess | undefined) {
    if (!this.resolver) throw new QvacError('DAEMON_SHUTTING_DOWN', 'the daemon is not running')
    const resolved = await this.resolver.resolveModel(source, { stats: true, signal, access })
    await this.cache?.used(source, resolved.path)
    this.modelFiles.set(source, resolved.path)
    return resolved
  }

  // A pull answers with the SHA-256 of a cached file, or none for a local file; a delegated pull left nothing here.
  private async noteUsed(source: string, sha256: string): Promise<void> {
    if (!this.resolver || !this.cache) return
    const parsed = parseSource(source)
    const file = parsed.type === 'file' ? parsed.path : sha256 ? this.resolver.cache.contentPath(sha256) : null
    if (file && (await fs.stat(file).catch(() => null))?.isFile()) await this.cache.used(source, file)
  }

  get publicKey(): Buffer {
    if (!this.keyPair) throw new Error('daemon not ready')
    return this.keyPair.publicKey
  }

  protected async _open(): Promise<void> {
    try {
      await this.open()
    } catch (err) {
      // ready-resource does not run _close after a failed _open: release what did open.
      await this.shutdown()
      throw err
    }
  }

  private async open(): Promise<void> {
    await fs.mkdir(this.storage, { recursive: true, mode: 0o700 })
    // Checked first: a second daemon on the same storage gets DAEMON_ALREADY_RUNNING, not a
    // storage lock error.
    const socketPath = controlSocketPath(this.storage)
    await ControlSocket.assertFree(socketPath)
    await this.sources.ready()

    this.store = new Corestore(path.join(this.storage, 'corestore'))
    await this.store.ready()
    this.keyPair = await this.store.createKeyPair(KEY_PAIR_NAME)
    this.router.localPeer = formatKey(this.keyPair.publicKey)
    this.startedAt = Date.now()

    this.host = new SwarmHost({
      dht: createDht({ bootstrap: this.opts.bootstrap, keyPair: this.keyPair }),
      keyPair: this.keyPair,
      store: this.store,
      topic: this.topic,
      allow: this.opts.allow ?? [],
      router: this.router,
      log: this.log,
      protocolVersion: this.opts.protocolVersion,
      idleTimeoutMs: this.opts.idleTimeoutMs
    })
    for (const event of ['peer-joined', 'peer-left', 'peer-refused', 'protocol-mismatch']) {
      this.host.on(event, (...args: unknown[]) => this.emit(event, ...args))
    }
    this.host.on('peer-joined', () => this.announcer.announce())
    await this.host.ready()
    this.announcer.start()

    this.resolver = new ModelResolver({
      storage: this.storage,
      store: this.store,
      swarm: this.host.swarm,
      registryKey: this.opts.registry,
      maxBytes: this.opts.maxDownloadBytes
    })
    await this.resolver.ready()
    this.cache = new CacheKeeper({ cacheDir: this.resolver.cache.dir, models: this.models, maxBytes: this.opts.cacheMaxBytes, log: this.log })
    await this.cache.ready()
    this.keepAlive.start()

    this.control = new ControlSocket({ path: socketPath, router: this.router, log: this.log })
    await this.control.ready()

    if (this.opts.metricsPort !== undefined) {
      this.metricsServer = new MetricsServer({ port: this.opts.metricsPort, metrics: this.router.metrics, server: this.serverMetrics })
      await this.metricsServer.ready()
      this.metricsPort = this.metricsServer.port
    }
  }

  /** close(): ends in-flight calls with DAEMON_SHUTTING_DOWN, leaves the topic, closes everything. */
  protected async _close(): Promise<void> {
    await this.shutdown()
  }

  private async shutdown(): Promise<void> {
    this.announcer.stop()
    this.router.close()
    if (this.metricsServer) await this.metricsServer.close()
    if (this.control) await this.control.close()
    await this.delegation.close()
    await this.keepAlive.close()
    if (this.resolver) await this.resolver.close()
    if (this.host) await this.host.close()
    await this.models.close()
    await this.backend.close()
    if (this.store) await this.store.close()
  }
}
