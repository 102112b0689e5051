/**
 * `request.log` without a pino child per request. fastify makes one for every request (a
 * child's bindings are serialized and its level methods rebuilt: several µs, and garbage,
 * on every request, for a logger most requests never write to). This one makes the child
 * when a line at an enabled level is first written, so the lines come out exactly as a
 * child's would (`request_id` among the bindings), and a disabled level costs a check.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Bindings, ChildLoggerOptions } from 'pino'

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
type LogArgs = Parameters<FastifyBaseLogger['info']>

class RequestLogger {
  private readonly parent: FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean }
  private readonly bindings: Bindings
  private made: FastifyBaseLogger | undefined

  constructor(parent: FastifyBaseLogger, bindings: Bindings) {
    this.parent = parent
    this.bindings = bindings
  }

  private get real(): FastifyBaseLogger {
    this.made ??= this.parent.child(this.bindings)
    return this.made
  }

  get level(): string {
    return (this.made ?? this.parent).level
  }

  set level(level: string) {
    this.real.level = level
  }

  private write(level: Level, args: LogArgs): void {
    // Without isLevelEnabled (not a pino logger), every line goes to the child, which decides.
    if (this.made === undefined && this.parent.isLevelEnabled?.(level) === false) return
    ;(this.real[level] as (...a: LogArgs) => void)(...args)
  }

  fatal(...args: LogArgs): void {
    this.write('fatal', args)
  }
  error(...args: LogArgs): void {
    this.write('error', args)
  }
  warn(...args: LogArgs): void {
    this.write('warn', args)
  }
  info(...args: LogArgs): void {
    this.write('info', args)
  }
  debug(...args: LogArgs): void {
    this.write('debug', args)
  }
  trace(...args: LogArgs): void {
    this.write('trace', args)
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options)
  }
}

/** For fastify's `childLoggerFactory`: the per-request logger, made lazily. */
export function requestLogger(logger: FastifyBaseLogger, bindings: Bindings): FastifyBaseLogger {
  return new RequestLogger(logger, bindings) as unknown as FastifyBaseLogger
}
