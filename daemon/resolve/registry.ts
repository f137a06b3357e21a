import { QvacError } from '../../shared/errors.ts'
import { formatKey } from '../../shared/keys.ts'
import type { RegistryEntry } from '../registry/registry.ts'
import type { RegistryFinder } from '../registry/registry-finder.ts'
import { untilAborted } from './abort.ts'

/**
 * The entry behind `registry://NAME`; MODEL_NOT_FOUND for a name the registry does not have. With
 * no peer that has the registry, it is looked up on the DHT again first: its publisher may have
 * started since the daemon did.
 */
export async function lookupRegistryModel(finder: RegistryFinder | null, name: string, signal: AbortSignal | undefined): Promise<RegistryEntry> {
  if (!finder) {
    throw new QvacError('SOURCE_UNAVAILABLE', `registry://${name} needs a registry: give the daemon one (--registry KEY)`)
  }
  await untilAborted(finder.find(), signal)
  const { registry } = finder
  const entry = await untilAborted(registry.get(name), signal)
  if (!entry && registry.empty) {
    throw new QvacError('SOURCE_UNAVAILABLE', `registry ${formatKey(registry.key)} is unavailable: no peer that has it was found`, {
      details: { name, registry: formatKey(registry.key) }
    })
  }
  if (!entry) {
    throw new QvacError('MODEL_NOT_FOUND', `no model "${name}" in registry ${formatKey(registry.key)}`, {
      details: { name, registry: formatKey(registry.key) }
    })
  }
  return entry
}
