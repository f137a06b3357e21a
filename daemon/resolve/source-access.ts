import { AddressPolicy } from './address-policy.ts'
import { openModelsDir, type ModelsDir } from './models-dir.ts'

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
  /** The only dir remote peers may load local files from (symlinks resolved); none: no local files. */
  modelsDir?: string
  /** Let remote peers fetch from private networks: all of them (true) or these CIDR ranges. */
  allowPrivateSources?: boolean | string[]
}

/** The daemon's rules for remote callers, set by the operator at start. */
export class SourcePolicy {
  private readonly opts: SourcePolicyOptions
  private readonly addresses: AddressPolicy
  private remote: SourceAccess | null = null

  constructor(opts: SourcePolicyOptions = {}) {
    this.opts = opts
    this.addresses = new AddressPolicy(opts.allowPrivateSources ?? false)
  }

  /** Resolves the models dir (it must exist). */
  async ready(): Promise<void> {
    const modelsDir = this.opts.modelsDir === undefined ? null : await openModelsDir(this.opts.modelsDir)
    this.remote = { remote: true, modelsDir, addresses: this.addresses }
  }

  /** The access of a caller: the operator when it has no public key (the control socket). */
  forCaller(caller: { publicKey: Buffer | null }): SourceAccess {
    if (caller.publicKey === null) return OPERATOR_ACCESS
    return this.remote ?? { remote: true, modelsDir: null, addresses: this.addresses }
  }
}
