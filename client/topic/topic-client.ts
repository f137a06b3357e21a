import { QvacError, isQvacError } from '../../shared/errors.ts'
import type {
  CacheListing,
  DaemonStatus,
  DownloadAssetResponse,
  EmbedResponse,
  LoadedModel,
  LoadModelResponse,
  PingResponse,
  ProfilingEnvelope,
  RemoveCacheResponse
} from '../../shared/messages.ts'
import { CallGuard, type CallOptions } from '../call-guard.ts'
import type { Profiled } from '../call-record.ts'
import { InferStream, type InferInput, type InferOptions, type PlaceStream } from '../infer-stream.ts'
import { QvacClient, type DownloadAssetInput, type EmbedInput, type LoadModelInput, type Transport } from '../qvac-client.ts'
import type { DaemonSet, Member } from './daemon-set.ts'
import { choose, type Want } from './route.ts'

/** Which daemon served a call over a topic, and why it was chosen. */
export interface RouteInfo {
  daemon: string
  reason: string
}

/** A result of a call over a topic: with the route it took. */
export type Routed<T> = T & { __route?: RouteInfo }

/** A model this client loaded: how to load it again elsewhere, and where it is loaded. */
interface TopicModel {
  input: LoadModelInput
  /** Member id → the model's id on that daemon. */
  placements: Map<string, string>
  /** The daemon the loads went to, and how many references this client holds there. */
  home: string
  loads: number
  /** When each placement was made: an announcement sent before it may not list the model yet. */
  placedAt: Map<string, number>
}

// Announcements younger than a placement may predate it.
const PLACEMENT_GRACE_MS = 3000

// A daemon not heard from for this long (2½ missed announcements) is passed over while others answer.
const STALE_MS = 2500

// A daemon that answers with one of these may be skipped for the next: the call was not served.
const SKIP_CODES = new Set(['QUEUE_FULL', 'CONNECTION_LOST', 'CONNECT_FAILED', 'CONNECT_REFUSED', 'RATE_LIMITED', 'DAEMON_SHUTTING_DOWN', 'MODEL_LOAD_FAILED', 'PROVIDER_LOST', 'DELEGATION_FAILED'])

/**
 * A client over every daemon of a topic (`connect({ topic })`): each call goes to the daemon the
 * routing rule picks from live load announcements (client/topic/route.ts); a daemon that refuses,
 * fails or vanishes before answering is skipped for the next within the call's deadline, and a
 * stream that loses its daemon continues on another (InferStream). Model ids are those of the
 * daemon that first loaded the model; the client remembers the load to repeat it elsewhere.
 */
export class TopicClient extends QvacClient {
  readonly daemons: DaemonSet
  private readonly connectTimeout: number
  private readonly models = new Map<string, TopicModel>()
  private streamIds = 1

  constructor(daemons: DaemonSet, opts: { connectTimeout: number; onclose: () => Promise<void> }) {
    super(
      async () => {
        throw new QvacError('INTERNAL_ERROR', 'a topic client connects through its daemon set')
      },
      async () => {
        await daemons.close()
        await opts.onclose()
      },
      { profiler: daemons.profiler }
    )
    this.daemons = daemons
    this.connectTimeout = opts.connectTimeout
    daemons.on('joined', (member: Member) => this.emit('connect', member))
    daemons.on('left', (member: Member) => {
      for (const model of this.models.values()) model.placements.delete(member.id)
      this.emit('disconnect', member)
    })
    daemons.on('load', (member: Member) => this.forgetUnloaded(member))
  }

  /** A daemon that no longer announces a model (its keep-alive unloaded it) is no longer a placement of it. */
  private forgetUnloaded(member: Member): void {
    const now = Date.now()
    for (const model of this.models.values()) {
      const remoteId = model.placements.get(member.id)
      if (remoteId === undefined || now - (model.placedAt.get(member.id) ?? now) < PLACEMENT_GRACE_MS) continue
      if (!member.load?.models.some((m) => m.modelId === remoteId)) model.placements.delete(member.id)
    }
  }

  /** Resolves once a daemon of the topic is connected (CONNECT_FAILED after connectTimeout). */
  async ready(): Promise<Transport> {
    await this.daemons.ready(this.connectTimeout)
    const [member] = this.daemons.connected()
    return member.client.ready()
  }

  ping(opts?: CallOptions): Promise<Routed<Profiled<PingResponse>>> {
    return this.route({}, opts, (member, o) => member.client.ping(o))
  }

  status(opts?: CallOptions): Promise<Routed<Profiled<DaemonStatus>>> {
    return this.route({}, opts, (member, o) => member.client.status(o))
  }

  downloadAsset(input: DownloadAssetInput, opts?: CallOptions): Promise<Routed<Profiled<DownloadAssetResponse>>> {
    return this.route({ source: input.source }, opts, (member, o) => member.client.downloadAsset(input, o))
  }

  /** Loads the model on the daemon the routing picks; later streams may load it on others too. */
  async loadModel(input: LoadModelInput, opts?: CallOptions): Promise<Routed<Profiled<LoadModelResponse>>> {
    const result = await this.route({ source: input.source }, opts, (member, o) => member.client.loadModel(input, o))
    const member = this.member(result.__route?.daemon)
    const known = this.models.get(result.modelId)
    if (known && member) {
      known.placements.set(member.id, result.modelId)
      known.placedAt.set(member.id, Date.now())
      known.loads++
    } else if (member) {
      this.models.set(result.modelId, {
        input,
        placements: new Map([[member.id, result.modelId]]),
        placedAt: new Map([[member.id, Date.now()]]),
        home: member.id,
        loads: 1
      })
    }
    return result
  }

  /**
   * Drops one reference, as on one daemon: resolves with the references left where the model was
   * loaded. The last one also drops the copies failover loaded on other daemons.
   */
  async unloadModel(modelId: string, opts?: CallOptions): Promise<number> {
    const model = this.models.get(modelId)
    if (!model) return this.unloadAnywhere(modelId, opts)
    model.loads--
    const home = this.member(model.home)
    const homeId = home ? model.placements.get(home.id) : undefined
    const references = home && homeId !== undefined ? await home.client.unloadModel(homeId, opts) : 0
    if (model.loads > 0) return references
    this.models.delete(modelId)
    for (const [id, remoteId] of model.placements) {
      if (id !== model.home) await this.member(id)?.client.unloadModel(remoteId, opts).catch(() => 0)
    }
    return references
  }

  /** A model this client did not load: the daemon that announces it, else whichever knows it. */
  private async unloadAnywhere(modelId: string, opts?: CallOptions): Promise<number> {
    const holder = this.holderOf(modelId)
    if (holder) return holder.client.unloadModel(modelId, opts)
    let lastError: unknown = new QvacError('MODEL_NOT_FOUND', `no daemon on the topic has a model with id ${modelId}`, { details: { modelId } })
    for (const member of this.daemons.connected()) {
      try {
        return await member.client.unloadModel(modelId, opts)
      } catch (err) {
        if (!isQvacError(err, 'MODEL_NOT_FOUND')) throw err
        lastError = err
      }
    }
    throw lastError
  }

  /** Embeddings on a daemon holding the model (as for a stream, without failover once sent). */
  async embed(input: EmbedInput, opts: CallOptions = {}): Promise<Routed<Profiled<EmbedResponse>>> {
    const guard = new CallGuard(opts)
    const placement = await this.placeStream(input.modelId, opts)({ exclude: new Set(), guard })
    placement.done?.()
    const member = this.member(placement.daemon ?? undefined) as Member
    const value: Routed<Profiled<EmbedResponse>> = await member.client.embed({ ...input, modelId: placement.modelId }, { ...opts, timeout: guard.remaining() })
    value.__route = { daemon: member.id, reason: placement.reason ?? '' }
    return value
  }

  /** The cache of the least-loaded daemon (operator only: over a topic every daemon refuses). */
  listCache(opts?: CallOptions): Promise<Routed<Profiled<CacheListing>>> {
    return this.route({}, opts, (member, o) => member.client.listCache(o))
  }

  removeCache(target: string, opts: CallOptions & { force?: boolean } = {}): Promise<Routed<Profiled<RemoveCacheResponse>>> {
    return this.route({}, opts, (member, o) => member.client.removeCache(target, { ...opts, ...o }))
  }

  /** The loaded models of every daemon of the set. */
  async listLoaded(opts?: CallOptions): Promise<LoadedModel[]> {
    await this.daemons.ready(this.connectTimeout)
    const all = await Promise.all(this.daemons.connected().map((m) => m.client.listLoaded(opts).catch(() => [] as LoadedModel[])))
    return all.flat()
  }

  infer(input: InferInput, opts: InferOptions = {}): InferStream {
    return new InferStream(this.streamIds++, input, opts, this.profiler, this.placeStream(input.modelId, opts))
  }

  /** Where each attempt of a stream runs: see the class comment. */
  private placeStream(modelId: string, opts: CallOptions): PlaceStream {
    return async ({ exclude, guard }) => {
      const model = this.models.get(modelId)
      while (true) {
        await guard.run(this.daemons.ready(guard.remaining() ?? this.connectTimeout))
        const members = fresh(this.daemons.connected().filter((m) => !exclude.has(m.id)))
        // A model this client did not load goes where it is announced, else anywhere (the daemon says MODEL_NOT_FOUND).
        const holders = model ? [] : members.filter((m) => m.load?.models.some((x) => x.modelId === modelId))
        const candidates = model
          ? members.map((m) => ({ ...candidate(m), placed: model.placements.has(m.id) }))
          : (holders.length > 0 ? holders : members).map((m) => ({ ...candidate(m), placed: holders.length > 0 }))
        const choice = choose(candidates, model ? this.want(model) : {})
        if (!choice) throw new QvacError('CONNECT_FAILED', `no daemon left on the topic to run model ${modelId}`, { details: { modelId, tried: exclude.size } })
        const member = choice.candidate.member
        // Counted at once: streams placed in the same tick must see each other.
        const stream = {}
        member.unannounced.add(stream)
        try {
          let remoteId = model ? model.placements.get(member.id) : modelId
          if (remoteId === undefined && model) {
            const loaded = await member.client.loadModel(model.input, { timeout: guard.remaining(), signal: opts.signal, traceId: opts.traceId })
            remoteId = loaded.modelId
            model.placements.set(member.id, remoteId)
            model.placedAt.set(member.id, Date.now())
          }
          const transport = await guard.run(member.client.ready())
          return {
            transport,
            modelId: remoteId as string,
            daemon: member.id,
            reason: choice.reason,
            lastHeard: () => member.lastHeard,
            done: () => release(member, stream)
          }
        } catch (err) {
          release(member, stream)
          if (!isQvacError(err) || !SKIP_CODES.has(err.name)) throw err
          exclude.add(member.id)
        }
      }
    }
  }

  /**
   * Runs a unary call on the daemon the routing picks for `want`; a daemon that refuses or
   * fails before answering is skipped for the next, within the call's deadline.
   */
  private async route<T extends object>(
    want: Want,
    opts: CallOptions = {},
    call: (member: Member, opts: CallOptions) => Promise<Profiled<T>>
  ): Promise<Routed<Profiled<T>>> {
    const guard = new CallGuard(opts)
    const exclude = new Set<string>()
    let lastError: unknown = null
    while (true) {
      await guard.run(this.daemons.ready(guard.remaining() ?? this.connectTimeout))
      const candidates = fresh(this.daemons.connected().filter((m) => !exclude.has(m.id))).map((m) => ({ ...candidate(m), placed: false }))
      const choice = choose(candidates, want)
      if (!choice) throw lastError
      const member = choice.candidate.member
      try {
        const value: Routed<Profiled<T>> = await call(member, { ...opts, timeout: guard.remaining() })
        value.__route = { daemon: member.id, reason: choice.reason }
        markRoute(value.__profiling, choice.reason)
        return value
      } catch (err) {
        if (!isQvacError(err) || !SKIP_CODES.has(err.name)) throw err
        lastError = err
        exclude.add(member.id)
        guard.check()
      }
    }
  }

  /** What a stream of this model needs: its source, and its hash once a daemon announced it. */
  private want(model: TopicModel): Want {
    for (const [id, remoteId] of model.placements) {
      const sha256 = this.member(id)?.load?.models.find((m) => m.modelId === remoteId)?.sha256
      if (sha256) return { source: model.input.source, sha256 }
    }
    return { source: model.input.source }
  }

  private member(id: string | undefined): Member | undefined {
    return this.daemons.connected().find((m) => m.id === id)
  }

  private holderOf(modelId: string): Member | undefined {
    return this.daemons.connected().find((m) => m.load?.models.some((x) => x.modelId === modelId))
  }
}

/** A stream ended: not yet announced, it is forgotten; already counted by an announcement, that one now overstates. */
function release(member: Member, stream: object): void {
  if (!member.unannounced.delete(stream)) member.released++
}

/** The members heard from lately; all of them when none is (a stalled event loop, say). */
function fresh(members: Member[]): Member[] {
  const now = Date.now()
  const live = members.filter((m) => now - m.lastHeard < STALE_MS)
  return live.length > 0 ? live : members
}

function candidate(member: Member) {
  return { id: member.id, load: member.load, unannounced: member.unannounced.size - member.released, member }
}

/** The serving daemon's rpc event says why it was chosen. */
function markRoute(envelope: ProfilingEnvelope | undefined, reason: string): void {
  for (const event of envelope?.events ?? []) if (event.hop === 0 && event.kind === 'rpc') event.tags.route = reason
}
