import { QvacError, isQvacError } from '../../shared/errors.ts'

/**
 * A failed connect says which DHT it tried: without --bootstrap that is the public HyperDHT, and a
 * daemon on a local testnet is never found there.
 */
export function explainConnectFailure(err: unknown, opts: { bootstrap?: string }): unknown {
  if (!isQvacError(err, 'CONNECT_FAILED')) return err
  const where = opts.bootstrap
    ? `over the DHT at ${opts.bootstrap}`
    : 'over the public HyperDHT (no --bootstrap given; a daemon on a local testnet needs --bootstrap HOST:PORT)'
  return new QvacError('CONNECT_FAILED', `${err.message} ${where}`, { details: err.details, cause: err })
}
