import type { Handler } from './router.ts'
import { PROTOCOL_VERSION, SOFTWARE_VERSION } from '../../shared/version.ts'

export const ping: Handler<'ping'> = () => ({
  time: Date.now(),
  version: SOFTWARE_VERSION,
  protocolVersion: PROTOCOL_VERSION
})
