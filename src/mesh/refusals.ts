/**
 * What the mesh refuses from a peer (an oversized head, a truncated frame, a state that
 * breaks the schema, …) is logged at warn the first time per peer and kind, then at debug:
 * a hostile or broken peer repeating itself must not flood the log. The count of each
 * kind stays available (tests, and a later /metrics).
 */
import type { Logger } from 'pino'

export type RefusalKind =
  | 'stream_limit'
  | 'frame_too_large'
  | 'bad_frame'
  | 'bad_head'
  | 'frame_timeout'
  | 'body_too_large'
  | 'buffer_full'
  | 'bad_state'
  | 'state_too_large'
  | 'forged_state'
  | 'state_rate'
  | 'too_many_targets'
  | 'bad_tenant_message'
  | 'tenant_message_too_large'
  | 'tenant_message_rate'

/** Distinct (peer, kind) pairs remembered; past it, every refusal warns again (bounded memory). */
const MAX_REMEMBERED = 4096

export class Refusals {
  private readonly logger: Logger
  private readonly warned = new Set<string>()
  private readonly counts = new Map<RefusalKind, number>()

  constructor(logger: Logger) {
    this.logger = logger
  }

  /** Records one refusal; `details` go into the log line. */
  refuse(peer: string, kind: RefusalKind, message: string, details: Record<string, unknown> = {}): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1)
    const key = `${peer} ${kind}`
    if (this.warned.has(key)) {
      this.logger.debug({ peer, refused: kind, ...details }, message)
      return
    }
    if (this.warned.size < MAX_REMEMBERED) this.warned.add(key)
    this.logger.warn({ peer, refused: kind, ...details }, `${message} (further ones from this peer are logged at debug)`)
  }

  count(kind: RefusalKind): number {
    return this.counts.get(kind) ?? 0
  }

  snapshot(): Partial<Record<RefusalKind, number>> {
    return Object.fromEntries(this.counts)
  }
}
