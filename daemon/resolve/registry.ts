import { QvacError } from '../../shared/errors.ts'
import { formatKey } from '../../shared/keys.ts'
import type { Registry, RegistryEntry } from '../registry/registry.ts'
import { untilAborted } from './abort.ts'

/** The entry behind `registry://NAME`; MODEL_NOT_FOUND for a name the registry does not have. */
export async function lookupRegistryModel(registry: Registry | null, name: string, signal: AbortSignal | undefined): Promise<RegistryEntry> {
  if (!registry) {
    throw new QvacError('SOURCE_UNAVAILABLE', `registry://${name} needs a registry: give the daemon one (--registry KEY)`)
  }
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
