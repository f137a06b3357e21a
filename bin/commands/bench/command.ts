import { InvalidArgumentError } from 'commander'
import { QvacError } from '../../../shared/errors.ts'
import { comparisonToText, reportToText } from './print.ts'
import { compareReports, loadReport, saveReport } from './report.ts'
import { benchmark, checkScenarios } from './run.ts'

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
  const out = (text: string) => process.stdout.write(text + '\n')
  if (opts.compare) {
    if (opts.compare.length !== 2) throw new QvacError('INVALID_ARGUMENT', '--compare takes two files: OLD NEW')
    const [oldFile, newFile] = opts.compare
    const rows = compareReports(await loadReport(oldFile), await loadReport(newFile), opts.threshold)
    out(opts.json ? JSON.stringify(rows, null, 2) : comparisonToText(rows, opts.threshold, oldFile, newFile))
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
  // gRPC and DHT sockets of finished scenarios may linger in their close handshakes; the report is out.
  process.exit(0)
}

export function fraction(value: string): number {
  const n = Number(value)
  if (!(n > 0 && n < 10)) throw new InvalidArgumentError('expected a fraction such as 0.1')
  return n
}
