/**
 * The daemon's root logger: JSON lines for machines (stdout is a file, a pipe, journald),
 * readable lines for people (stdout is a terminal), or what `log_format` says.
 */
import { createRequire } from 'node:module'
import pino, { type Logger } from 'pino'
import type pinoPretty from 'pino-pretty'

// pino-pretty (and its colour and date helpers) load only for a logger that prints for people:
// a daemon logging JSON never pays their memory.
const require = createRequire(import.meta.url)

export type LogFormat = 'auto' | 'json' | 'pretty'

export interface LoggerInit {
  level: string
  format: LogFormat
  /** The node name, on every line. */
  node: string
  /** Where lines go. Default: stdout. */
  destination?: NodeJS.WritableStream & { isTTY?: boolean }
}

/** Whether lines come out pretty: `pretty`, or `auto` on a terminal. */
export function isPretty(format: LogFormat, destination: { isTTY?: boolean }): boolean {
  return format === 'pretty' || (format === 'auto' && destination.isTTY === true)
}

export function createLogger(init: LoggerInit): Logger {
  const destination = init.destination ?? process.stdout
  const options = { level: init.level, base: { node: init.node } }
  if (!isPretty(init.format, destination)) return init.destination ? pino(options, destination) : pino(options)
  // Synchronous and in-process (no worker thread): the last lines before an exit are not lost.
  const pretty = require('pino-pretty') as typeof pinoPretty
  const stream = pretty({ destination, sync: true, colorize: destination.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
  return pino(options, stream)
}
