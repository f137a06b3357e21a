import type { OperationEvent } from '../../shared/profiler/types.ts'

/**
 * The matcher for ProfilerOptions.operationFilters: an event passes when its op or kind equals
 * one filter, or matches one with `*` as a wildcard ('load*'). Null when there are no filters.
 */
export function compileOperationFilters(filters: string[]): ((event: OperationEvent) => boolean) | null {
  if (filters.length === 0) return null
  const patterns = filters.map(globToRegExp)
  return (event) => patterns.some((p) => p.test(event.op) || p.test(event.kind))
}

function globToRegExp(glob: string): RegExp {
  const parts = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
  return new RegExp(`^${parts.join('.*')}$`)
}
