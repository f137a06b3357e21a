import { QvacError } from '../shared/errors.ts'

export interface BenchCommandOptions {
  quick?: boolean
  full?: boolean
  json?: boolean
  save?: string
  compare?: string[]
  threshold: number
}

/** `qvacd bench`: run and print (table or JSON), optionally save; or compare two saved runs. */
export async function runBench(scenarios: string[], opts: BenchCommandOptions): Promise<void> {
  const { comparisonToText, reportToText } = await import('./print.ts')
  const { compareReports, loadReport, saveReport } = await import('./report.ts')
  const { benchmark, checkScenarios } = await import('./run.ts')
  const out = (text: string) => process.stdout.write(text + '\n')
  if (opts.compare) {
    if (opts.compare.length !== 2) throw new QvacError('INVALID_ARGUMENT', '--compare takes two files: OLD NEW')
    const [oldFile, newFile] = opts.compare
    const [before, after] = [await loadReport(oldFile), await loadReport(newFile)]
    const rows = compareReports(before, after, opts.threshold)
    out(opts.json ? JSON.stringify(rows, null, 2) : comparisonToText(rows, opts.threshold, oldFile, newFile))
    if (!opts.json && before.mode !== after.mode) out(`note: ${oldFile} is a ${before.mode} run and ${newFile} a ${after.mode} run: iteration counts differ`)
    if (!opts.json && before.machine.cpu !== after.machine.cpu) out(`note: the runs are from different machines (${before.machine.cpu} / ${after.machine.cpu})`)
    return
  }
  if (opts.quick && opts.full) throw new QvacError('INVALID_ARGUMENT', 'choose one of --quick and --full')
  checkScenarios(scenarios)
  const report = await benchmark({
    scenarios,
    mode: opts.full ? 'full' : 'quick',
    command: `qvacd ${process.argv.slice(2).join(' ')}`,
    progress: (line) => process.stderr.write(`bench: ${line}\n`)
  })
  if (opts.save) await saveReport(opts.save, report)
  out(opts.json ? JSON.stringify(report, null, 2) : reportToText(report))
  // A scenario that failed outright (not a peer that is unavailable) fails the command.
  if (report.unavailable.some((u) => u.what === 'scenario')) process.exitCode = 1
}
