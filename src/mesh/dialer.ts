/**
 * Keeps the node connected to the peers it knows of: the configured `mesh.peers`
 * (always, with exponential backoff), and peers learned from gossip or mDNS (until nobody
 * mentions them for a while). libp2p 3 reports discoveries but dials nobody itself.
 * At most one dial is in flight per peer; the node never dials itself. What gossip can make
 * it do is bounded: at most `maxLearnedTargets` learned peers, `MAX_ADDRS_PER_PEER`
 * addresses each, and `maxDialsPerSecond` dials started per second in all.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { parseMultiaddr, peerIdOf, preferNonLoopback, withPeerId } from './addrs.ts'
import {
  DIAL_BACKOFF_BASE_MS,
  DIAL_BACKOFF_MAX_MS,
  LEARNED_ADDRESS_TTL_MS,
  MAX_ADDRS_PER_PEER,
  MAX_DIALS_PER_SECOND,
  MAX_LEARNED_TARGETS,
} from './constants.ts'
import type { Refusals } from './refusals.ts'

export type TargetSource = 'config' | 'gossip' | 'mdns'

export interface DialerComponents {
  logger: Logger
  /** Opens a connection; resolves to the remote peer id. */
  dial(addrs: Multiaddr[], options: { signal: AbortSignal }): Promise<string>
  isConnected(peerId: string): boolean
  /** Where a learned peer beyond the cap is reported. */
  refusals?: Refusals
}

export interface DialerInit {
  selfId: string
  /** Whether the allowlist lets this peer in. */
  allowed(peerId: string): boolean
  /** First retry delay; doubles per failure. @default 500 */
  backoffBaseMs?: number
  /** @default 30000 */
  backoffMaxMs?: number
  /** A learned peer not mentioned again for this long is given up on. @default 60000 */
  learnedTtlMs?: number
  /** Learned (gossip, mDNS) peers kept at once; more are ignored until some age out. @default 256 */
  maxLearnedTargets?: number
  /** Dials started per second (a burst of as many is allowed). @default 10 */
  maxDialsPerSecond?: number
  now?: () => number
}

interface Target {
  source: TargetSource
  /** Known once dialled, or from the `/p2p/` suffix. */
  peerId: string | undefined
  addrs: Multiaddr[]
  attempts: number
  nextAt: number
  lastHeard: number
}

export class Dialer {
  private readonly components: DialerComponents
  private readonly init: DialerInit
  private readonly baseMs: number
  private readonly maxMs: number
  private readonly ttlMs: number
  private readonly now: () => number
  private readonly maxLearned: number
  private readonly dialsPerSecond: number
  /** Token bucket for dials: `tokens` as of `tokensAt`. */
  private tokens: number
  private tokensAt = 0
  private learnedCount = 0
  /** Keyed `config:<addr>` for configured addresses, `peer:<id>` for learned peers. */
  private readonly targets = new Map<string, Target>()
  private readonly inFlight = new Set<string>()
  private controller: AbortController | undefined
  private timer: NodeJS.Timeout | undefined
  /** When the armed tick fires (`now()` clock); Infinity when none is armed. */
  private timerAt = Infinity

  constructor(components: DialerComponents, init: DialerInit) {
    this.components = components
    this.init = init
    this.baseMs = init.backoffBaseMs ?? DIAL_BACKOFF_BASE_MS
    this.maxMs = init.backoffMaxMs ?? DIAL_BACKOFF_MAX_MS
    this.ttlMs = init.learnedTtlMs ?? LEARNED_ADDRESS_TTL_MS
    this.now = init.now ?? Date.now
    this.maxLearned = init.maxLearnedTargets ?? MAX_LEARNED_TARGETS
    this.dialsPerSecond = init.maxDialsPerSecond ?? MAX_DIALS_PER_SECOND
    this.tokens = this.dialsPerSecond
  }

  /** Targets held: configured addresses and learned peers (tests). */
  targetCount(): { configured: number; learned: number } {
    return { configured: this.targets.size - this.learnedCount, learned: this.learnedCount }
  }

  start(): void {
    if (this.controller !== undefined) return
    this.controller = new AbortController()
    this.arm(0)
  }

  stop(): void {
    this.controller?.abort(new Error('mesh stopping'))
    this.controller = undefined
    clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
    this.targets.clear()
    this.learnedCount = 0
    this.inFlight.clear()
  }

  /** A `mesh.peers` entry: dialled now and redialled whenever it is not connected. Throws on a malformed address. */
  addConfigured(addr: string): void {
    const ma = parseMultiaddr(addr)
    const peerId = peerIdOf(ma)
    if (peerId === this.init.selfId) return
    this.targets.set(`config:${addr}`, { source: 'config', peerId, addrs: [ma], attempts: 0, nextAt: 0, lastHeard: Infinity })
    this.arm(0)
  }

  /** A peer heard of through gossip or mDNS (`from`: the peer that told us, for the log). */
  learn(peerId: string, addrs: Multiaddr[], source: Exclude<TargetSource, 'config'>, from: string = source): void {
    if (peerId === this.init.selfId || addrs.length === 0 || !this.init.allowed(peerId)) return
    const key = `peer:${peerId}`
    const existing = this.targets.get(key)
    const dialable = preferNonLoopback(addrs)
      .slice(0, MAX_ADDRS_PER_PEER)
      .map((a) => withPeerId(a, peerId))
    if (existing !== undefined) {
      existing.addrs = dialable
      existing.lastHeard = this.now()
      return
    }
    if (this.learnedCount >= this.maxLearned) {
      this.components.refusals?.refuse(from, 'too_many_targets', 'ignored a learned peer: the dialer holds as many as it keeps', {
        peer_learned: peerId,
        limit: this.maxLearned,
      })
      return
    }
    this.learnedCount += 1
    this.targets.set(key, { source, peerId, addrs: dialable, attempts: 0, nextAt: 0, lastHeard: this.now() })
    if (!this.components.isConnected(peerId)) this.arm(0)
  }

  onConnected(peerId: string): void {
    for (const t of this.targets.values()) if (t.peerId === peerId) t.attempts = 0
  }

  /** Redial after the backoff, which restarts small after a connection that worked. */
  onDisconnected(peerId: string): void {
    const now = this.now()
    for (const t of this.targets.values()) {
      if (t.peerId === peerId) t.nextAt = Math.max(t.nextAt, now + this.backoff(t.attempts))
    }
    this.arm(this.baseMs)
  }

  private backoff(attempts: number): number {
    const ms = Math.min(this.maxMs, this.baseMs * 2 ** attempts)
    // Jitter, so nodes restarted together do not redial in lockstep.
    return Math.round(ms * (0.75 + Math.random() * 0.5))
  }

  private arm(delayMs: number): void {
    if (this.controller === undefined) return
    const at = this.now() + Math.max(0, delayMs)
    // Never push back a tick that is already due sooner: a dial due now must not wait for a later backoff.
    if (this.timer !== undefined && this.timerAt <= at) return
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(
      () => {
        this.timer = undefined
        this.timerAt = Infinity
        this.tick()
      },
      Math.max(0, delayMs),
    )
    this.timer.unref()
  }

  private tick(): void {
    const signal = this.controller?.signal
    if (signal === undefined) return
    const now = this.now()
    let next = Infinity
    for (const [key, t] of this.targets) {
      if (t.peerId !== undefined && this.components.isConnected(t.peerId)) continue
      if (t.source !== 'config' && now - t.lastHeard > this.ttlMs) {
        this.forget(key)
        continue
      }
      if (this.inFlight.has(t.peerId ?? key)) continue
      if (t.nextAt > now) {
        next = Math.min(next, t.nextAt)
        continue
      }
      if (!this.takeToken(now)) {
        // Out of dials for now: come back when the next one is allowed.
        next = Math.min(next, now + Math.ceil(1000 / this.dialsPerSecond))
        break
      }
      void this.dial(key, t, signal)
    }
    if (next !== Infinity) this.arm(next - now)
  }

  private takeToken(now: number): boolean {
    this.tokens = Math.min(this.dialsPerSecond, this.tokens + ((now - this.tokensAt) / 1000) * this.dialsPerSecond)
    this.tokensAt = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  private forget(key: string): void {
    const t = this.targets.get(key)
    if (t === undefined) return
    this.targets.delete(key)
    if (t.source !== 'config') this.learnedCount -= 1
  }

  private async dial(key: string, t: Target, signal: AbortSignal): Promise<void> {
    const flightKey = t.peerId ?? key
    this.inFlight.add(flightKey)
    try {
      const remote = await this.components.dial(t.addrs, { signal })
      if (t.peerId !== remote) t.peerId = remote
      t.attempts = 0
    } catch (err: unknown) {
      if (signal.aborted) return
      t.attempts += 1
      t.nextAt = this.now() + this.backoff(t.attempts - 1)
      const message = err instanceof Error ? err.message : String(err)
      if (/dial self/i.test(message)) {
        // A configured address that turns out to be this node: nothing to do, ever.
        this.forget(key)
        return
      }
      this.components.logger.debug({ addrs: t.addrs.map(String), attempts: t.attempts, err: message }, 'dial failed; will retry')
    } finally {
      this.inFlight.delete(flightKey)
      if (!signal.aborted) this.arm(0)
    }
  }
}
