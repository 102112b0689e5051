/**
 * Keeps the node connected to the peers it knows of: the configured `mesh.peers`
 * (always, with exponential backoff), and peers learned from gossip or mDNS (until nobody
 * mentions them for a while). libp2p 3 reports discoveries but dials nobody itself.
 * At most one dial is in flight per peer; the node never dials itself.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { parseMultiaddr, peerIdOf, preferNonLoopback, withPeerId } from './addrs.ts'
import { DIAL_BACKOFF_BASE_MS, DIAL_BACKOFF_MAX_MS, LEARNED_ADDRESS_TTL_MS } from './constants.ts'

export type TargetSource = 'config' | 'gossip' | 'mdns'

export interface DialerComponents {
  logger: Logger
  /** Opens a connection; resolves to the remote peer id. */
  dial(addrs: Multiaddr[], options: { signal: AbortSignal }): Promise<string>
  isConnected(peerId: string): boolean
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

  /** A peer heard of through gossip or mDNS. */
  learn(peerId: string, addrs: Multiaddr[], source: Exclude<TargetSource, 'config'>): void {
    if (peerId === this.init.selfId || addrs.length === 0 || !this.init.allowed(peerId)) return
    const key = `peer:${peerId}`
    const existing = this.targets.get(key)
    const dialable = preferNonLoopback(addrs).map((a) => withPeerId(a, peerId))
    if (existing !== undefined) {
      existing.addrs = dialable
      existing.lastHeard = this.now()
      return
    }
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
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.timerAt = Infinity
      this.tick()
    }, Math.max(0, delayMs))
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
        this.targets.delete(key)
        continue
      }
      if (this.inFlight.has(t.peerId ?? key)) continue
      if (t.nextAt > now) {
        next = Math.min(next, t.nextAt)
        continue
      }
      void this.dial(key, t, signal)
    }
    if (next !== Infinity) this.arm(next - now)
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
        this.targets.delete(key)
        return
      }
      this.components.logger.debug({ addrs: t.addrs.map(String), attempts: t.attempts, err: message }, 'dial failed; will retry')
    } finally {
      this.inFlight.delete(flightKey)
      if (!signal.aborted) this.arm(0)
    }
  }
}
