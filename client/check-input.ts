import { QvacError } from '../shared/errors.ts'

/**
 * Numbers a caller passes are checked before they are encoded: the wire's uints would otherwise
 * throw a plain RangeError or silently truncate (`maxTokens: 1.5` became 1). Ranges beyond that
 * (maxTokens ≥ 1, the daemon's limits) are the daemon's to judge.
 */
export function checkUint(field: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new QvacError('INVALID_ARGUMENT', `${field} must be a non-negative integer, got ${describe(value)}`, {
      details: { field }
    })
  }
}

export function checkFinite(field: string, value: unknown): void {
  if (value === undefined) return
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new QvacError('INVALID_ARGUMENT', `${field} must be a finite number, got ${describe(value)}`, { details: { field } })
  }
}

export function checkBoolean(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new QvacError('INVALID_ARGUMENT', `${field} must be a boolean, got ${describe(value)}`, { details: { field } })
  }
}

export function checkString(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'string') {
    throw new QvacError('INVALID_ARGUMENT', `${field} must be a string, got ${describe(value)}`, { details: { field } })
  }
}

function describe(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value
}
