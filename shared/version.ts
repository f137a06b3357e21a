import pkg from '../package.json' with { type: 'json' }

/** Bumped on any incompatible wire change; the handshake refuses a peer with another one. */
export const PROTOCOL_VERSION = 2

/** The protomux protocol name of the RPC channel. */
export const RPC_PROTOCOL = 'qvac/rpc'

export const SOFTWARE_VERSION: string = pkg.version
