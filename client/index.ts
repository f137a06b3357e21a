// The qvacd client library: what applications import.
export { connect, type ConnectOptions } from './connect-swarm.ts'
export { connectLocal } from './connect-local.ts'
export { QvacClient } from './client.ts'
export { QvacError, ErrorCode, isQvacError, type ErrorName } from '../shared/errors.ts'
export type { CallOptions } from '../shared/call-guard.ts'
export type { DaemonStatus, PingResponse, PeerStatus, ModelStatus, MethodStatus } from '../shared/messages.ts'
export { formatKey, topicFromName } from '../shared/keys.ts'
