/**
 * The usage ledger: `HERD_HOME/usage.db` (SQLite through `node:sqlite`, WAL), one row per
 * key × model × node × hour with its requests, tokens, spend and cache hits. Settled
 * answers are summed in memory and written in one transaction every `flushMs` (and at
 * stop): a crash loses at most that much accounting, never a key or a limit (those live in
 * keys.db and the counters). This node's own answers only: each node keeps its ledger, and
 * `GET /admin/usage` reads the one asked (the node a client used is the one that settled).
 */
import { DatabaseSync } from 'node:sqlite'

/** The file under HERD_HOME. */
export const USAGE_DB = 'usage.db'

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

/** One answer (or cache hit) to count. */
export interface LedgerEntry {
  keyId: string
  model: string
  node: string
  /** Epoch ms of when it settled. */
  at: number
  promptTokens: number
  completionTokens: number
  costMicros: number
  /** Served from the response cache (then its cost is 0). */
  cached?: boolean
}

export type UsageGroup = 'key' | 'model' | 'node' | 'day' | 'hour'
export const USAGE_GROUPS: readonly UsageGroup[] = ['key', 'model', 'node', 'day', 'hour']

export interface UsageRow {
  key?: string
  model?: string
  node?: string
  /** ISO date (UTC) of the day, when grouped by day. */
  day?: string
  /** ISO time of the hour's start, when grouped by hour. */
  hour?: string
  requests: number
  prompt_tokens: number
  completion_tokens: number
  cost_micros: number
  cache_hits: number
}

export interface UsageQuery {
  /** Epoch ms, inclusive (rounded down to its hour). */
  from: number
  /** Epoch ms, exclusive. */
  to: number
  groupBy: readonly UsageGroup[]
}

interface Pending {
  requests: number
  prompt: number
  completion: number
  cost: number
  hits: number
}

const COLUMN: Record<UsageGroup, string> = {
  key: 'key_id',
  model: 'model',
  node: 'node',
  day: `(hour / ${DAY_MS}) * ${DAY_MS}`,
  hour: 'hour',
}

export class UsageLedger {
  private readonly db: DatabaseSync
  private readonly upsert
  private pending = new Map<string, { keyId: string; model: string; node: string; hour: number; sums: Pending }>()

  /** Opens (creating if needed) the ledger at `path` (`:memory:` for tests). */
  constructor(path: string) {
    this.db = new DatabaseSync(path, { timeout: 5_000 })
    this.db.exec('PRAGMA journal_mode = WAL')
    // Accounting, batched: a power cut may lose the last batch, not the file.
    this.db.exec('PRAGMA synchronous = NORMAL')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS usage_hourly (
        key_id TEXT NOT NULL,
        model TEXT NOT NULL,
        node TEXT NOT NULL,
        hour INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cost_micros INTEGER NOT NULL,
        cache_hits INTEGER NOT NULL,
        PRIMARY KEY (key_id, model, node, hour)
      );
      CREATE INDEX IF NOT EXISTS usage_hour ON usage_hourly (hour);
    `)
    this.upsert = this.db.prepare(`
      INSERT INTO usage_hourly (key_id, model, node, hour, requests, prompt_tokens, completion_tokens, cost_micros, cache_hits)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (key_id, model, node, hour) DO UPDATE SET
        requests = requests + excluded.requests,
        prompt_tokens = prompt_tokens + excluded.prompt_tokens,
        completion_tokens = completion_tokens + excluded.completion_tokens,
        cost_micros = cost_micros + excluded.cost_micros,
        cache_hits = cache_hits + excluded.cache_hits`)
  }

  /** Counts one answer (written at the next flush). */
  record(e: LedgerEntry): void {
    const hour = Math.floor(e.at / HOUR_MS) * HOUR_MS
    // NUL-separated (no JSON.stringify per answer); a name holding a NUL (a peer's, say) that lands on another row's id falls back to the unambiguous one.
    let id = `${hour}\u0000${e.keyId}\u0000${e.model}\u0000${e.node}`
    let row = this.pending.get(id)
    if (row !== undefined && (row.keyId !== e.keyId || row.model !== e.model || row.node !== e.node)) {
      id = JSON.stringify([e.keyId, e.model, e.node, hour])
      row = this.pending.get(id)
    }
    if (row === undefined) {
      row = { keyId: e.keyId, model: e.model, node: e.node, hour, sums: { requests: 0, prompt: 0, completion: 0, cost: 0, hits: 0 } }
      this.pending.set(id, row)
    }
    row.sums.requests += 1
    row.sums.prompt += e.promptTokens
    row.sums.completion += e.completionTokens
    row.sums.cost += e.cached === true ? 0 : e.costMicros
    if (e.cached === true) row.sums.hits += 1
  }

  /** Writes what was counted since the last flush, in one transaction. */
  flush(): void {
    if (this.pending.size === 0) return
    const rows = [...this.pending.values()]
    this.pending = new Map()
    this.db.exec('BEGIN')
    try {
      for (const r of rows) this.upsert.run(r.keyId, r.model, r.node, r.hour, r.sums.requests, r.sums.prompt, r.sums.completion, r.sums.cost, r.sums.hits)
      this.db.exec('COMMIT')
    } catch (err: unknown) {
      this.db.exec('ROLLBACK')
      throw err
    }
  }

  /** Sums over `[from, to)`, one row per group (all of it in one row when `groupBy` is empty), biggest spend first. */
  query(q: UsageQuery): UsageRow[] {
    this.flush()
    const groups = USAGE_GROUPS.filter((g) => q.groupBy.includes(g))
    const select = groups.map((g) => `${COLUMN[g]} AS ${g}`)
    const sums = [
      'SUM(requests) AS requests',
      'SUM(prompt_tokens) AS prompt_tokens',
      'SUM(completion_tokens) AS completion_tokens',
      'SUM(cost_micros) AS cost_micros',
      'SUM(cache_hits) AS cache_hits',
    ]
    const sql =
      `SELECT ${[...select, ...sums].join(', ')} FROM usage_hourly WHERE hour >= ? AND hour < ?` +
      (groups.length === 0 ? '' : ` GROUP BY ${groups.join(', ')}`) +
      ` ORDER BY cost_micros DESC, requests DESC${groups.length === 0 ? '' : `, ${groups.join(', ')}`}`
    const from = Math.floor(q.from / HOUR_MS) * HOUR_MS
    const rows = this.db.prepare(sql).all(from, q.to) as Record<string, string | number | null>[]
    return rows
      .filter((r) => r.requests !== null)
      .map((r) => {
        const out: UsageRow = {
          requests: Number(r.requests),
          prompt_tokens: Number(r.prompt_tokens),
          completion_tokens: Number(r.completion_tokens),
          cost_micros: Number(r.cost_micros),
          cache_hits: Number(r.cache_hits),
        }
        if (r.key !== undefined) out.key = String(r.key)
        if (r.model !== undefined) out.model = String(r.model)
        if (r.node !== undefined) out.node = String(r.node)
        if (r.day !== undefined) out.day = new Date(Number(r.day)).toISOString().slice(0, 10)
        if (r.hour !== undefined) out.hour = new Date(Number(r.hour)).toISOString()
        return out
      })
  }

  close(): void {
    this.flush()
    this.db.close()
  }
}
