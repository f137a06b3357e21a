import { alignColumns } from '../../client/profiler/table.ts'

type Cell = string | number

/** Borderless, left-aligned columns as `ollama ps` prints them (the profiler's renderer, so one table style). */
export function plainTable(head?: string[]): { push(...rows: Cell[][]): void; toString(): string } {
  const rows: string[][] = head ? [head] : []
  return {
    push: (...added) => {
      for (const row of added) rows.push(row.map(String))
    },
    toString: () => alignColumns(rows, false)
  }
}
