/** The schema the structured-output tests ask for, and a check of exactly what it says (no validator dependency). */
export const PERSON_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 12 },
    likes: { enum: ['tea', 'coffee'] },
    happy: { type: 'boolean' }
  },
  required: ['name', 'likes', 'happy'],
  additionalProperties: false
} as const

/** Problems of `value` against PERSON_SCHEMA; empty when it conforms. */
export function personProblems(value: unknown): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return ['not an object']
  const v = value as Record<string, unknown>
  const problems: string[] = []
  const extra = Object.keys(v).filter((k) => !['name', 'likes', 'happy'].includes(k))
  if (extra.length > 0) problems.push(`extra keys ${extra.join(', ')}`)
  if (typeof v.name !== 'string' || v.name.length > 12) problems.push('name is not a string of ≤ 12 characters')
  if (v.likes !== 'tea' && v.likes !== 'coffee') problems.push('likes is not tea or coffee')
  if (typeof v.happy !== 'boolean') problems.push('happy is not a boolean')
  return problems
}
