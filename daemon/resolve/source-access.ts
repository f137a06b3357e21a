import os from 'node:os'
import { AddressPolicy } from './address-policy.ts'
import { isInside, openModelsDir, type ModelsDir } from './models-dir.ts'
import { parseSource } from './source-uri.ts'
import { redactForRemote } from './redact.ts'

/**
 * What one caller's sources may reach. The operator (control socket) may use anything; a remote
 * peer only drives, the registry, public http(s) and files inside the models dir, and its errors
 * carry no local paths, sizes or hashes of content it did not supply.
 */
export interface SourceAccess {
  readonly remote: boolean
  /** Where a remote peer's local paths may lead; null: nowhere. */
  readonly modelsDir: ModelsDir | null
  readonly addresses: AddressPolicy
}

export const OPERATOR_ACCESS: SourceAccess = { remote: false, modelsDir: null, addresses: AddressPolicy.ANY }

export interface SourcePolicyOptions {
  /** The daemon's storage dir: never named to a remote peer. */
  storage: string
  /** The only dir remote peers may load local files from (symlinks resolved); none: no local files. */
  modelsDir?: string
  /** Let remote peers fetch from private networks: all of them (true) or these CIDR ranges. */
  allowPrivateSources?: boolean | string[]
}

/** The daemon's rules for remote callers, set by the operator at start. */
const LOCAL_FILE = '(a local file)'

export class SourcePolicy {
  private readonly opts: SourcePolicyOptions
  private readonly addresses: AddressPolicy
  private remote: SourceAccess | null = null
  private localDirs: string[]

  constructor(opts: SourcePolicyOptions) {
    this.opts = opts
    this.addresses = new AddressPolicy(opts.allowPrivateSources ?? false)
    this.localDirs = [opts.storage, os.homedir(), process.cwd(), os.tmpdir()]
  }

  /** Resolves the models dir (it must exist). */
  async ready(): Promise<void> {
    const modelsDir = this.opts.modelsDir === undefined ? null : await openModelsDir(this.opts.modelsDir)
    this.remote = { remote: true, modelsDir, addresses: this.addresses }
    if (modelsDir) this.localDirs.push(modelsDir.root, modelsDir.real)
  }

  /** What a caller is told of an error: all of it for the operator, no local dirs for a remote peer. */
  errorFor(err: unknown, access: SourceAccess): unknown {
    return access.remote ? redactForRemote(err, this.localDirs) : err
  }

  /**
   * A model's source as a remote peer may see it (status, ps, load announcements): URIs as they
   * are, a local path only inside the models dir (a path a remote peer could have named itself);
   * any other local path, or what does not parse, never leaves the host.
   */
  shownToRemote(source: string): string {
    let parsed: ReturnType<typeof parseSource>
    try {
      parsed = parseSource(source)
    } catch {
      return LOCAL_FILE
    }
    if (parsed.type !== 'file') return source
    const dir = this.remote?.modelsDir
    return dir && (isInside(dir.root, parsed.path) || isInside(dir.real, parsed.path)) ? source : LOCAL_FILE
  }

  /** The access of a caller: the operator when it has no public key (the control socket). */
  forCaller(caller: { publicKey: Buffer | null }): SourceAccess {
    if (caller.publicKey === null) return OPERATOR_ACCESS
    return this.remote ?? { remote: true, modelsDir: null, addresses: this.addresses }
  }
}
