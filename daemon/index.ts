// The daemon: what `qvacd start` runs, and what embeds a daemon in a process.
export { Daemon, type DaemonOptions } from './daemon.ts'
export { consoleLogger, silentLogger, type Logger } from './log.ts'
