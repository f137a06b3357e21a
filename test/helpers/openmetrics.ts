import { createRequire } from 'node:module'

export interface ParsedFamily {
  name: string
  help: string
  type: string
  metrics: { quantiles?: Record<string, string>; count?: string; sum?: string; value?: string }[]
}

/** A real Prometheus text parser (it ships without types; this is the part of its result the tests read). */
export const parsePrometheusText = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string
) => ParsedFamily[]
