import cliProgress from 'cli-progress'
import { formatBytes, formatThroughput } from '../format/units.ts'
import { openDaemon } from './daemon-client.ts'
import { sourceArg } from './source-arg.ts'
import { downloadToTable } from '../format/download.ts'

/** `qvacd pull SOURCE`: the daemon fetches into its cache; a progress bar with bytes, speed and ETA. */
export async function runPull(
  source: string,
  opts: { storage: string; peer?: string; bootstrap?: string; sha256?: string; timeout?: number; json?: boolean }
): Promise<void> {
  const client = await openDaemon({ ...opts, timeout: opts.timeout })
  const bar = opts.json || !process.stderr.isTTY ? null : progressBar()
  try {
    const result = await client.downloadAsset(
      {
        source: sourceArg(source, { remote: Boolean(opts.peer) }),
        expectedSha256: opts.sha256,
        onProgress: bar
          ? ({ bytes, total, speedBps }) => {
              if (!bar.isActive) bar.start(total ?? 0, 0, { speed: '' })
              if (total !== null) bar.setTotal(total)
              bar.update(bytes, { speed: formatThroughput(speedBps) })
            }
          : undefined
      },
      { timeout: opts.timeout }
    )
    bar?.stop()
    process.stdout.write((opts.json ? JSON.stringify(result, null, 2) : downloadToTable(result)) + '\n')
  } finally {
    bar?.stop()
    await client.close()
  }
}

function progressBar(): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'pulling {bar} {percentage}% | {value} / {total} | {speed} | ETA {eta_formatted}',
      formatValue: (value, _options, type) => (type === 'value' || type === 'total' ? formatBytes(value) : String(value)),
      hideCursor: true
    },
    cliProgress.Presets.shades_classic
  )
}
