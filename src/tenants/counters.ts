/**
 * Per-key use, per node: this node's own counts, and the last counts each peer gossiped.
 * A limit is checked against the sum over every node. Rates are kept in epoch-aligned
 * buckets (see windows.ts); quotas and spend per UTC day and month. Counts are absolute per
 * (node, key, window), so a repeated or reordered message does no harm. A node that left
 * keeps counting what it reported until those windows pass: its requests did happen.
 */
import { bucketOf, dayStart, monthStart, oldestCounted } from './windows.ts'

export interface Tally {
  requests: number
  tokens: number
  /** Millionths of the budget's currency. */
  cost: number
}

/** One key's counts as they travel: `b` rate buckets `[index, requests, tokens]`, `d`/`m` the day and month `[start, requests, tokens, cost]`. */
export interface CounterEntry {
  k: string
  b: [number, number, number][]
  d?: [number, number, number, number] | undefined
  m?: [number, number, number, number] | undefined
}

interface KeyUsage {
  buckets: Map<number, Tally>
  day: { start: number; tally: Tally } | undefined
  month: { start: number; tally: Tally } | undefined
}

/** Where an admission was counted, so its settlement lands in the same windows. */
export interface CountedAt {
  keyId: string
  bucket: number
  day: number
  month: number
}

/** The sums a limit is checked against. */
export interface KeyTotals {
  /** Rate buckets still counting, oldest first, summed over nodes. */
  buckets: { index: number; requests: number; tokens: number }[]
  /** Everything in the rate buckets that count now. */
  rate: Tally
  day: Tally
  month: Tally
}

/** One key's day or month count as the store keeps it. */
export interface PersistedCount {
  keyId: string
  period: 'day' | 'month'
  start: number
  tally: Tally
}

/** Peers whose counts are kept, and keys per peer: a peer cannot make this node hold more. */
export const MAX_COUNTER_NODES = 256
export const MAX_COUNTER_KEYS_PER_NODE = 16_384

const zero = (): Tally => ({ requests: 0, tokens: 0, cost: 0 })

export class UsageCounters {
  private readonly bucketMs: number
  private readonly own = new Map<string, KeyUsage>()
  private readonly remote = new Map<string, Map<string, KeyUsage>>()
  private readonly dirty = new Set<string>()
  /** Keys whose day or month counts changed since they were last written (takeUnsaved). */
  private readonly unsaved = new Set<string>()
  private readonly onChange: () => void

  constructor(init: { bucketMs: number; onChange?: () => void }) {
    this.bucketMs = init.bucketMs
    this.onChange = init.onChange ?? (() => {})
  }

  /** Counts an admission on this node. */
  add(keyId: string, delta: Tally, now: number): CountedAt {
    const at = { keyId, bucket: bucketOf(now, this.bucketMs), day: dayStart(now), month: monthStart(now) }
    this.apply(at, delta, true)
    return at
  }

  /** Corrects an admission's tokens or cost once the real usage is known (the windows it was counted in, if still held). */
  settle(at: CountedAt, delta: Tally): void {
    if (delta.requests === 0 && delta.tokens === 0 && delta.cost === 0) return
    this.apply(at, delta, false)
  }

  private apply(at: CountedAt, delta: Tally, create: boolean): void {
    let usage = this.own.get(at.keyId)
    if (usage === undefined) {
      if (!create) return
      usage = { buckets: new Map(), day: undefined, month: undefined }
      this.own.set(at.keyId, usage)
    }
    const bump = (t: Tally): void => {
      t.requests = Math.max(0, t.requests + delta.requests)
      t.tokens = Math.max(0, t.tokens + delta.tokens)
      t.cost = Math.max(0, t.cost + delta.cost)
    }
    let bucket = usage.buckets.get(at.bucket)
    if (bucket === undefined && create) usage.buckets.set(at.bucket, (bucket = zero()))
    if (bucket !== undefined) bump(bucket)
    if (usage.day?.start !== at.day && create) usage.day = { start: at.day, tally: zero() }
    if (usage.day?.start === at.day) bump(usage.day.tally)
    if (usage.month?.start !== at.month && create) usage.month = { start: at.month, tally: zero() }
    if (usage.month?.start === at.month) bump(usage.month.tally)
    this.dirty.add(at.keyId)
    this.unsaved.add(at.keyId)
    this.onChange()
  }

  /** A key's use summed over this node and every peer heard from, in the windows that count at `now`. */
  totals(keyId: string, now: number): KeyTotals {
    const from = oldestCounted(now, this.bucketMs)
    const day = dayStart(now)
    const month = monthStart(now)
    const out: KeyTotals = { buckets: [], rate: zero(), day: zero(), month: zero() }
    const byIndex = new Map<number, { index: number; requests: number; tokens: number }>()
    const add = (u: KeyUsage | undefined): void => {
      if (u === undefined) return
      for (const [index, t] of u.buckets) {
        if (index < from) continue
        let b = byIndex.get(index)
        if (b === undefined) byIndex.set(index, (b = { index, requests: 0, tokens: 0 }))
        b.requests += t.requests
        b.tokens += t.tokens
        out.rate.requests += t.requests
        out.rate.tokens += t.tokens
      }
      if (u.day?.start === day) addTally(out.day, u.day.tally)
      if (u.month?.start === month) addTally(out.month, u.month.tally)
    }
    add(this.own.get(keyId))
    for (const keys of this.remote.values()) add(keys.get(keyId))
    out.buckets = [...byIndex.values()].sort((a, b) => a.index - b.index)
    return out
  }

  /** This node's counts for the keys changed since the last call, as they travel. */
  takeChanged(now: number): CounterEntry[] {
    const out: CounterEntry[] = []
    for (const keyId of this.dirty) {
      const u = this.own.get(keyId)
      if (u !== undefined) out.push(this.entry(keyId, u, now))
    }
    this.dirty.clear()
    return out
  }

  /** This node's counts for every key with use in a window that still counts. */
  snapshot(now: number): CounterEntry[] {
    this.prune(now)
    return [...this.own].map(([keyId, u]) => this.entry(keyId, u, now))
  }

  private entry(keyId: string, u: KeyUsage, now: number): CounterEntry {
    const from = oldestCounted(now, this.bucketMs)
    const e: CounterEntry = { k: keyId, b: [] }
    for (const [index, t] of u.buckets) if (index >= from) e.b.push([index, t.requests, t.tokens])
    if (u.day) e.d = [u.day.start, u.day.tally.requests, u.day.tally.tokens, u.day.tally.cost]
    if (u.month) e.m = [u.month.start, u.month.tally.requests, u.month.tally.tokens, u.month.tally.cost]
    return e
  }

  /** A peer's counts: each entry replaces what that peer said before about that key. */
  applyRemote(node: string, entries: readonly CounterEntry[]): void {
    let keys = this.remote.get(node)
    if (keys === undefined) {
      if (this.remote.size >= MAX_COUNTER_NODES) return
      this.remote.set(node, (keys = new Map()))
    }
    for (const e of entries) {
      if (!keys.has(e.k) && keys.size >= MAX_COUNTER_KEYS_PER_NODE) continue
      const u: KeyUsage = { buckets: new Map(), day: undefined, month: undefined }
      for (const [index, requests, tokens] of e.b) u.buckets.set(index, { requests, tokens, cost: 0 })
      if (e.d) u.day = { start: e.d[0], tally: { requests: e.d[1], tokens: e.d[2], cost: e.d[3] } }
      if (e.m) u.month = { start: e.m[0], tally: { requests: e.m[1], tokens: e.m[2], cost: e.m[3] } }
      keys.set(e.k, u)
    }
  }

  /** Drops windows that no longer count, and keys and peers left with nothing. */
  prune(now: number): void {
    const from = oldestCounted(now, this.bucketMs)
    const day = dayStart(now)
    const month = monthStart(now)
    const pruneKeys = (keys: Map<string, KeyUsage>): void => {
      for (const [keyId, u] of keys) {
        for (const index of u.buckets.keys()) if (index < from) u.buckets.delete(index)
        if (u.day !== undefined && u.day.start < day) u.day = undefined
        if (u.month !== undefined && u.month.start < month) u.month = undefined
        if (u.buckets.size === 0 && u.day === undefined && u.month === undefined) keys.delete(keyId)
      }
    }
    pruneKeys(this.own)
    for (const [node, keys] of this.remote) {
      pruneKeys(keys)
      if (keys.size === 0) this.remote.delete(node)
    }
  }

  /** This node's day and month counts, to persist. */
  persisted(): PersistedCount[] {
    const out: PersistedCount[] = []
    for (const keyId of this.own.keys()) this.persistedOf(keyId, out)
    return out
  }

  /**
   * The day and month counts of the keys that changed since the last call, to persist: a
   * node with a thousand keys writes the few in use each second, not all of them. Give
   * them back with `unsavedAgain` when writing them failed.
   */
  takeUnsaved(): PersistedCount[] {
    const out: PersistedCount[] = []
    for (const keyId of this.unsaved) this.persistedOf(keyId, out)
    this.unsaved.clear()
    return out
  }

  unsavedAgain(rows: readonly PersistedCount[]): void {
    for (const r of rows) this.unsaved.add(r.keyId)
  }

  private persistedOf(keyId: string, out: PersistedCount[]): void {
    const u = this.own.get(keyId)
    if (u?.day) out.push({ keyId, period: 'day', start: u.day.start, tally: { ...u.day.tally } })
    if (u?.month) out.push({ keyId, period: 'month', start: u.month.start, tally: { ...u.month.tally } })
  }

  /** Puts back persisted day and month counts at start (rate buckets start empty). */
  restore(rows: readonly { keyId: string; period: 'day' | 'month'; start: number; tally: Tally }[], now: number): void {
    for (const r of rows) {
      if (r.start !== (r.period === 'day' ? dayStart(now) : monthStart(now))) continue
      let u = this.own.get(r.keyId)
      if (u === undefined) this.own.set(r.keyId, (u = { buckets: new Map(), day: undefined, month: undefined }))
      u[r.period] = { start: r.start, tally: { ...r.tally } }
    }
  }
}

function addTally(into: Tally, t: Tally): void {
  into.requests += t.requests
  into.tokens += t.tokens
  into.cost += t.cost
}
