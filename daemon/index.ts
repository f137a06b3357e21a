// The daemon: what `qvacd start` runs, and what embeds a daemon in a process.
/// <reference path="../shared/types/index.d.ts" preserve="true" />
export { Daemon, type DaemonOptions } from './daemon.ts'
export { consoleLogger, silentLogger, LOG_LEVELS, type Logger, type LogLevel, type LogFields, type ConsoleLoggerOptions } from './log.ts'
