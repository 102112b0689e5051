/**
 * The tenants component: the key store and its in-memory index, the per-key counters, the
 * mesh replication of both, and the gate a request passes before routing. The api calls
 * `identify` (auth), `admit` (before routing) and the admin operations; the mesh runs
 * `replication`; the daemon wires the three.
 */
import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { RouteRequest } from '../router/types.ts'
import { UsageCounters, type KeyTotals } from './counters.ts'
import { admit, type Admission, type AdmitOptions, type GateDeps, type SettledUsage, type Tenant } from './gate.ts'
import { Keyring } from './keyring.ts'
import { rateHeaders } from './limits.ts'
import type { KeyChanges } from './parse.ts'
import { keyView, unusable, type KeyRecord } from './record.ts'
import { Replication } from './replication.ts'
import { hashSecret, type KeySecret } from './secret.ts'
import { KeyStore } from './store.ts'
import { UsageLedger, USAGE_DB } from './ledger.ts'
import { bucketMsOf, dayStart, monthStart } from './windows.ts'

/** The file under HERD_HOME. */
export const KEYS_DB = 'keys.db'

export interface TenantsComponents {
  logger: Logger
  /** The id `updated_by` records: the mesh peer id when the mesh is on, else the node name. */
  nodeId: () => string
  /** @default Date.now */
  now?: () => number
  /** This node's name, as answers name it in `servedBy` (the ledger's node for cache hits). @default nodeId */
  nodeName?: () => string
}

export interface TenantsInit {
  /** HERD_HOME (the store is `keys.db` there), or `:memory:` for tests. */
  home: string
  /** The span rpm and tpm count over. @default 60000 */
  rateWindowMs?: number
  /** Changed counters go to peers within this long. @default 50 */
  counterPushMs?: number
  /** The mesh heartbeat. @default 1000 */
  heartbeatMs?: number
  /** This node's day and month counters are written this often (and at stop). @default 1000 */
  flushMs?: number
  /**
   * Spend of a settled answer, in millionths of the key's budget currency. The seam for
   * prices (usage and cost accounting): until it exists, answers cost nothing.
   */
  cost?: (usage: SettledUsage, record: KeyRecord) => number
}

export interface TenantsEvents {
  /** An answer under a key ended and its usage was settled (the usage ledger counts it; `cached`: a response-cache hit, cost 0). */
  'usage:settled': [SettledUsage & { costMicros: number; cached?: boolean }]
  'key:changed': [KeyRecord, 'local' | 'remote']
}

/** What a presented key turned out to be. */
export type Identified = { tenant: Tenant } | { refused: 'revoked' | 'expired'; id: string }

export class Tenants extends EventEmitter<TenantsEvents> {
  private readonly c: TenantsComponents
  private readonly init: Required<Omit<TenantsInit, 'cost'>> & Pick<TenantsInit, 'cost'>
  /** The clock keys, windows and the ledger go by. */
  readonly now: () => number
  readonly bucketMs: number
  readonly counters: UsageCounters
  readonly replication: Replication
  private store: KeyStore | undefined
  private book: UsageLedger | undefined
  private ring: Keyring | undefined
  private flushTimer: NodeJS.Timeout | undefined
  /** What admission works with: made once, not an object and three closures per request. */
  private readonly gate: GateDeps

  constructor(components: TenantsComponents, init: TenantsInit) {
    super()
    this.c = components
    this.now = components.now ?? Date.now
    this.init = {
      home: init.home,
      rateWindowMs: init.rateWindowMs ?? 60_000,
      counterPushMs: init.counterPushMs ?? 50,
      heartbeatMs: init.heartbeatMs ?? 1000,
      flushMs: init.flushMs ?? 1000,
      cost: init.cost,
    }
    this.bucketMs = bucketMsOf(this.init.rateWindowMs)
    this.counters = new UsageCounters({ bucketMs: this.bucketMs, onChange: () => this.replication.countersChanged() })
    this.replication = new Replication(
      { logger: components.logger.child({ component: 'tenants-mesh' }), keyring: () => this.keyring, counters: this.counters, now: this.now },
      { bucketMs: this.bucketMs, heartbeatMs: this.init.heartbeatMs, counterPushMs: this.init.counterPushMs },
    )
    const cost = this.init.cost ?? (() => 0)
    this.gate = {
      counters: this.counters,
      bucketMs: this.bucketMs,
      now: this.now,
      cost,
      onSettled: (usage, costMicros, cached) => this.emit('usage:settled', { ...usage, costMicros, ...(cached ? { cached: true } : {}) }),
      nearLimit: () => this.replication.countersChanged(true),
    }
  }

  /** Opens the store and loads the keys and this node's counters. Idempotent. */
  async start(): Promise<void> {
    if (this.store !== undefined) return
    if (this.init.home !== ':memory:') await mkdir(this.init.home, { recursive: true })
    const store = new KeyStore(this.init.home === ':memory:' ? ':memory:' : join(this.init.home, KEYS_DB))
    try {
      const ring = new Keyring(store)
      ring.load(store.all((id, err) => this.c.logger.warn({ id, err: err.message }, 'skipped a key the store holds but cannot read')))
      ring.on('key:changed', (record, origin) => {
        if (origin === 'local') this.replication.keyChanged(record)
        this.emit('key:changed', record, origin)
      })
      this.counters.restore(
        store
          .usage()
          .map((u) => ({ keyId: u.key_id, period: u.period, start: u.start, tally: { requests: u.requests, tokens: u.tokens, cost: u.cost_micros } })),
        this.now(),
      )
      this.book = new UsageLedger(this.init.home === ':memory:' ? ':memory:' : join(this.init.home, USAGE_DB))
      this.store = store
      this.ring = ring
    } catch (err: unknown) {
      store.close()
      throw err
    }
    this.on('usage:settled', this.toLedger)
    this.flushTimer = setInterval(() => this.flush(), this.init.flushMs)
    this.flushTimer.unref()
  }

  /** Writes the counters and closes the store. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.flushTimer)
    this.flushTimer = undefined
    this.replication.stop()
    if (this.store === undefined) return
    this.flush()
    this.store.close()
    this.store = undefined
    this.book?.close()
    this.book = undefined
    this.off('usage:settled', this.toLedger)
  }

  private readonly toLedger = (u: TenantsEvents['usage:settled'][0]): void =>
    this.book?.record({
      keyId: u.keyId,
      model: u.model,
      node: u.servedBy,
      at: this.now(),
      promptTokens: u.promptTokens,
      completionTokens: u.completionTokens,
      costMicros: u.costMicros,
      ...(u.cached === true ? { cached: true } : {}),
    })

  private flush(): void {
    const store = this.store
    if (store === undefined) return
    const now = this.now()
    // Also when the mesh is off (whose heartbeat prunes otherwise): old buckets must not pile up.
    this.counters.prune(now)
    // Only what changed since the last write: the rows of keys not used since hold what they held.
    const changed = this.counters.takeUnsaved()
    const rows = changed.map((u) => ({
      key_id: u.keyId,
      period: u.period,
      start: u.start,
      requests: u.tally.requests,
      tokens: u.tally.tokens,
      cost_micros: u.tally.cost,
    }))
    try {
      store.saveUsage(rows, Math.min(dayStart(now), monthStart(now)))
    } catch (err: unknown) {
      this.counters.unsavedAgain(changed)
      this.c.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not write key usage counters')
    }
    try {
      this.book?.flush()
    } catch (err: unknown) {
      this.c.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not write the usage ledger')
    }
  }

  get keyring(): Keyring {
    if (this.ring === undefined) throw new Error('tenants not started')
    return this.ring
  }

  /** Whether any tenant key exists here, revoked ones included: then every protected route needs a key (revoking the last key does not open the node). */
  active(): boolean {
    return (this.ring?.size ?? 0) > 0
  }

  /** The tenant key a presented secret is, if it is one (`hash`: its hashSecret, when the caller made it already). */
  identify(presented: string, hash: string = hashSecret(presented)): Identified | undefined {
    const record = this.ring?.lookup(hash)
    if (record === undefined) return undefined
    const why = unusable(record, this.now())
    if (why !== undefined) return { refused: why, id: record.id }
    return { tenant: { id: record.id, name: record.name, noEgress: record.no_egress, record } }
  }

  /** The key's `x-ratelimit-*` right now (for answers that are not routed). */
  headers(tenant: Tenant): Record<string, string> {
    if (tenant.record.rpm === null && tenant.record.tpm === null) return {}
    const now = this.now()
    return rateHeaders(tenant.record, this.counters.totals(tenant.id, now), { requests: 0, tokens: 0 }, now, this.bucketMs)
  }

  /** Checks a routed request against the key (models, budget, quotas, rates) and counts it; throws the refusal. */
  admit(tenant: Tenant, route: RouteRequest, options: AdmitOptions = {}): Admission {
    return admit(this.gate, tenant, route, options)
  }

  /** A record as the admin API shows it (no hash; its status at this node's time). */
  view(record: KeyRecord): Record<string, unknown> {
    return keyView(record, this.now())
  }

  /** The usage ledger of this node (for `GET /admin/usage`). */
  get ledger(): UsageLedger {
    if (this.book === undefined) throw new Error('tenants not started')
    return this.book
  }

  /**
   * A request under a key answered from the response cache: counted in the ledger as a
   * request and a cache hit with its tokens, at cost 0 (the cache's hook).
   */
  recordCacheHit(hit: { keyId: string; model: string; promptTokens: number; completionTokens: number }): void {
    this.emit('usage:settled', { ...hit, servedBy: this.c.nodeName?.() ?? this.c.nodeId(), measured: true, costMicros: 0, cached: true })
  }

  /** A key's use summed over the mesh (admin `show`). */
  usage(id: string): KeyTotals {
    return this.counters.totals(id, this.now())
  }

  createKey(input: KeyChanges & { name: string }): { record: KeyRecord; secret: KeySecret } {
    return this.keyring.create(input, this.c.nodeId(), this.now())
  }

  updateKey(id: string, changes: KeyChanges): KeyRecord {
    return this.keyring.update(id, changes, this.c.nodeId(), this.now())
  }

  revokeKey(id: string): KeyRecord {
    return this.keyring.revoke(id, this.c.nodeId(), this.now())
  }
}
