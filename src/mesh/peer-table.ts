/**
 * The newest gossiped state of every connected peer. Ordering is by (startedAt, seq): seq
 * restarts when a node restarts, and the new life's later startedAt makes it win.
 */
import type { NodeState } from './types.ts'

export interface PeerEntry {
  id: string
  state: NodeState
  /** Local clock when this state (or a repeat of it) last arrived. */
  receivedAt: number
}

export interface PeerRecord extends PeerEntry {
  ageMs: number
  fresh: boolean
}

/**
 * - `joined`: first state from this peer
 * - `updated`: a newer state replaced the old one
 * - `refreshed`: the same state again (a heartbeat): only `receivedAt` moved
 * - `ignored`: older than what the table holds
 */
export type ApplyResult = 'joined' | 'updated' | 'refreshed' | 'ignored'

/** Negative when `a` is older than `b`, 0 when the same version, positive when newer. */
export function compareStates(a: Pick<NodeState, 'startedAt' | 'seq'>, b: Pick<NodeState, 'startedAt' | 'seq'>): number {
  return a.startedAt !== b.startedAt ? a.startedAt - b.startedAt : a.seq - b.seq
}

export interface PeerTableInit {
  /** A state received longer ago than this is stale. */
  freshMs: number
  now?: () => number
}

export class PeerTable {
  private readonly entries = new Map<string, PeerEntry>()
  private readonly freshMs: number
  private readonly now: () => number
  private changes = 0

  constructor(init: PeerTableInit) {
    this.freshMs = init.freshMs
    this.now = init.now ?? Date.now
  }

  /** Moves whenever what `list()` returns changes, the passing of time aside (ages, freshness). */
  get version(): number {
    return this.changes
  }

  apply(state: NodeState): ApplyResult {
    const current = this.entries.get(state.id)
    const receivedAt = this.now()
    if (current === undefined) {
      this.entries.set(state.id, { id: state.id, state, receivedAt })
      this.changes++
      return 'joined'
    }
    const order = compareStates(state, current.state)
    if (order < 0) return 'ignored'
    this.changes++
    if (order === 0) {
      current.receivedAt = receivedAt
      return 'refreshed'
    }
    this.entries.set(state.id, { id: state.id, state, receivedAt })
    return 'updated'
  }

  /** Forget a peer (its connection closed). Returns whether it was known. */
  remove(id: string): boolean {
    const known = this.entries.delete(id)
    if (known) this.changes++
    return known
  }

  has(id: string): boolean {
    return this.entries.has(id)
  }

  get(id: string): PeerRecord | undefined {
    const entry = this.entries.get(id)
    return entry === undefined ? undefined : this.record(entry, this.now())
  }

  list(): PeerRecord[] {
    const now = this.now()
    return [...this.entries.values()].map((e) => this.record(e, now))
  }

  /** Peers heard from longer ago than `ms`. */
  silentFor(ms: number): string[] {
    const now = this.now()
    return [...this.entries.values()].filter((e) => now - e.receivedAt > ms).map((e) => e.id)
  }

  clear(): void {
    this.entries.clear()
    this.changes++
  }

  private record(entry: PeerEntry, now: number): PeerRecord {
    const ageMs = Math.max(0, now - entry.receivedAt)
    return { ...entry, ageMs, fresh: ageMs <= this.freshMs }
  }
}
