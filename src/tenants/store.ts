/**
 * The key store: `HERD_HOME/keys.db`, SQLite through Node's built-in `node:sqlite` (no
 * native build). WAL with `synchronous=FULL`: a write has reached the disk when it
 * returns, so a crash (even SIGKILL mid-write, or power loss) loses no committed change.
 * Keys change rarely; the per-key day and month counters of this node are written in
 * batches (see Tenants). Secrets are never stored, only their hash.
 */
import { DatabaseSync, type SQLInputValue } from 'node:sqlite'
import { keyRecordSchema, type KeyRecord } from './record.ts'

/** Bumped when the tables change; older files are migrated on open. */
const SCHEMA_VERSION = 1

/** This node's use of one key in one day or month (persisted so quotas survive a restart). */
export interface StoredUsage {
  key_id: string
  period: 'day' | 'month'
  /** Epoch ms of the window's start (UTC). */
  start: number
  requests: number
  tokens: number
  /** Spend in millionths of the budget's currency. */
  cost_micros: number
}

const COLUMNS = [
  'id',
  'name',
  'hash',
  'models',
  'rpm',
  'tpm',
  'tokens_per_day',
  'tokens_per_month',
  'budget',
  'no_egress',
  'expires_at',
  'version',
  'revoked',
  'created_at',
  'updated_at',
  'updated_by',
] as const

export class KeyStore {
  private readonly db: DatabaseSync
  private readonly upsert
  private readonly upsertUsage

  /** Opens (creating if needed) the database at `path` (`:memory:` for tests). */
  constructor(path: string) {
    this.db = new DatabaseSync(path, { timeout: 5_000 })
    this.db.exec('PRAGMA journal_mode = WAL')
    this.db.exec('PRAGMA synchronous = FULL')
    this.migrate()
    this.upsert = this.db.prepare(`INSERT OR REPLACE INTO keys (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`)
    this.upsertUsage = this.db.prepare('INSERT OR REPLACE INTO usage (key_id, period, start, requests, tokens, cost_micros) VALUES (?, ?, ?, ?, ?, ?)')
  }

  private migrate(): void {
    const version = (this.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
    if (version >= SCHEMA_VERSION) return
    this.db.exec(`
      BEGIN;
      CREATE TABLE IF NOT EXISTS keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL,
        models TEXT NOT NULL,
        rpm INTEGER, tpm INTEGER, tokens_per_day INTEGER, tokens_per_month INTEGER,
        budget TEXT,
        no_egress INTEGER NOT NULL,
        expires_at INTEGER,
        version INTEGER NOT NULL,
        revoked INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS keys_hash ON keys (hash);
      CREATE TABLE IF NOT EXISTS usage (
        key_id TEXT NOT NULL,
        period TEXT NOT NULL,
        start INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        tokens INTEGER NOT NULL,
        cost_micros INTEGER NOT NULL,
        PRIMARY KEY (key_id, period, start)
      );
      PRAGMA user_version = ${SCHEMA_VERSION};
      COMMIT;
    `)
  }

  /** Every record, revoked ones included. A row that no longer parses is skipped (and reported). */
  all(onBad?: (id: string, err: Error) => void): KeyRecord[] {
    const out: KeyRecord[] = []
    for (const row of this.db.prepare('SELECT * FROM keys').all()) {
      const parsed = keyRecordSchema.safeParse(fromRow(row))
      if (parsed.success) out.push(parsed.data)
      else onBad?.(String(row['id']), new Error(parsed.error.issues[0]?.message ?? 'invalid row'))
    }
    return out
  }

  /** Writes records (insert or replace by id) in one transaction; durable when it returns. */
  put(...records: KeyRecord[]): void {
    this.transaction(() => {
      for (const r of records) this.upsert.run(...toRow(r))
    })
  }

  /** This node's persisted day and month counters. */
  usage(): StoredUsage[] {
    return this.db.prepare('SELECT key_id, period, start, requests, tokens, cost_micros FROM usage').all() as unknown as StoredUsage[]
  }

  /** Writes counters (replacing each window's row) and drops windows that started before `keepFrom`. */
  saveUsage(rows: readonly StoredUsage[], keepFrom: number): void {
    this.transaction(() => {
      for (const u of rows) this.upsertUsage.run(u.key_id, u.period, u.start, u.requests, u.tokens, u.cost_micros)
      this.db.prepare('DELETE FROM usage WHERE start < ?').run(keepFrom)
    })
  }

  close(): void {
    if (this.db.isOpen) this.db.close()
  }

  private transaction(work: () => void): void {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      work()
      this.db.exec('COMMIT')
    } catch (err: unknown) {
      this.db.exec('ROLLBACK')
      throw err
    }
  }
}

function toRow(r: KeyRecord): SQLInputValue[] {
  return [
    r.id,
    r.name,
    r.hash,
    JSON.stringify(r.models),
    r.rpm,
    r.tpm,
    r.tokens_per_day,
    r.tokens_per_month,
    r.budget === null ? null : JSON.stringify(r.budget),
    r.no_egress ? 1 : 0,
    r.expires_at,
    r.version,
    r.revoked ? 1 : 0,
    r.created_at,
    r.updated_at,
    r.updated_by,
  ]
}

function fromRow(row: Record<string, SQLInputValue>): unknown {
  // A column that is not JSON becomes a value the schema refuses, so the row is skipped, not fatal.
  const json = (v: SQLInputValue): unknown => {
    if (typeof v !== 'string') return null
    try {
      return JSON.parse(v)
    } catch {
      return undefined
    }
  }
  return {
    id: row['id'],
    name: row['name'],
    hash: row['hash'],
    models: json(row['models'] ?? null),
    rpm: row['rpm'],
    tpm: row['tpm'],
    tokens_per_day: row['tokens_per_day'],
    tokens_per_month: row['tokens_per_month'],
    budget: json(row['budget'] ?? null),
    no_egress: row['no_egress'] === 1,
    expires_at: row['expires_at'],
    version: row['version'],
    revoked: row['revoked'] === 1,
    created_at: row['created_at'],
    updated_at: row['updated_at'],
    updated_by: row['updated_by'],
  }
}
