/**
 * The keys this node knows, in memory and in the store, kept in step: every change is
 * written to the store first, then to the index a request looks its key up in (by the
 * hash of what it presented). Local changes bump the version; records from peers are
 * merged by the rule in merge.ts. Emits 'key:changed' with the record and where it came from.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { HerdError } from '../errors/index.ts'
import { supersedes } from './merge.ts'
import type { KeyChanges } from './parse.ts'
import { newKeyId, type KeyBudget, type KeyRecord } from './record.ts'
import { KeySecret } from './secret.ts'
import type { KeyStore } from './store.ts'

/** Keys one node holds (revoked ones included): a peer cannot make it hold more. */
export const MAX_KEYS = 100_000

export type KeyOrigin = 'local' | 'remote'

export interface KeyringEvents {
  'key:changed': [KeyRecord, KeyOrigin]
}

/** One entry of a digest: enough to tell which of two versions wins. */
export type DigestEntry = [id: string, version: number, revoked: 0 | 1, updatedBy: string]

export class Keyring extends EventEmitter<KeyringEvents> {
  private readonly store: KeyStore
  private readonly byId = new Map<string, KeyRecord>()
  private readonly byHash = new Map<string, KeyRecord>()
  private summaryCache: string | undefined

  constructor(store: KeyStore) {
    super()
    this.store = store
  }

  /** Loads what the store holds. */
  load(records: readonly KeyRecord[]): void {
    for (const r of records) this.index(r)
  }

  get size(): number {
    return this.byId.size
  }

  get(id: string): KeyRecord | undefined {
    return this.byId.get(id)
  }

  /** The key whose secret hashes to `hash`. */
  lookup(hash: string): KeyRecord | undefined {
    return this.byHash.get(hash)
  }

  list(): KeyRecord[] {
    return [...this.byId.values()]
  }

  create(input: KeyChanges & { name: string }, by: string, now: number): { record: KeyRecord; secret: KeySecret } {
    if (this.byId.size >= MAX_KEYS) throw new HerdError('invalid_request', `this node holds ${MAX_KEYS} keys already`)
    const secret = KeySecret.generate()
    const record = withChanges(
      {
        id: newKeyId(),
        name: input.name,
        hash: secret.hash(),
        models: [],
        rpm: null,
        tpm: null,
        tokens_per_day: null,
        tokens_per_month: null,
        budget: null,
        no_egress: false,
        expires_at: null,
        version: 1,
        revoked: false,
        created_at: now,
        updated_at: now,
        updated_by: by,
      },
      input,
      now,
    )
    this.commit(record, 'local')
    return { record, secret }
  }

  update(id: string, changes: KeyChanges, by: string, now: number): KeyRecord {
    const held = this.required(id)
    if (held.revoked) throw new HerdError('invalid_request', `key ${id} is revoked; revocation is final (create a new key)`)
    const record = { ...withChanges(held, changes, now), version: held.version + 1, updated_at: now, updated_by: by }
    this.commit(record, 'local')
    return record
  }

  /** Revokes a key (again: no change). */
  revoke(id: string, by: string, now: number): KeyRecord {
    const held = this.required(id)
    if (held.revoked) return held
    const record = { ...held, revoked: true, version: held.version + 1, updated_at: now, updated_by: by }
    this.commit(record, 'local')
    return record
  }

  /**
   * A record from a peer, already validated: kept when it wins over what is held. Returns
   * whether it changed anything. A record claiming the secret of another key is refused.
   */
  apply(record: KeyRecord): 'applied' | 'older' | 'refused' {
    const held = this.byId.get(record.id)
    if (!supersedes(record, held)) return 'older'
    const owner = this.byHash.get(record.hash)
    if (owner !== undefined && owner.id !== record.id) return 'refused'
    if (held === undefined && this.byId.size >= MAX_KEYS) return 'refused'
    this.commit(record, 'remote')
    return 'applied'
  }

  /** Every key's version, sorted by id (what a peer compares against its own). */
  digest(): DigestEntry[] {
    return [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => [r.id, r.version, r.revoked ? 1 : 0, r.updated_by])
  }

  /** A hash of the digest: two nodes with the same summary hold the same versions. */
  summary(): string {
    this.summaryCache ??= createHash('sha256').update(JSON.stringify(this.digest())).digest('hex')
    return this.summaryCache
  }

  private required(id: string): KeyRecord {
    const held = this.byId.get(id)
    if (held === undefined) throw new HerdError('key_not_found', `no key ${id}`, { param: 'id' })
    return held
  }

  private commit(record: KeyRecord, origin: KeyOrigin): void {
    // Disk first: once a client has seen a change, a crash cannot take it back.
    this.store.put(record)
    this.index(record)
    this.emit('key:changed', record, origin)
  }

  private index(record: KeyRecord): void {
    const old = this.byId.get(record.id)
    if (old !== undefined && old.hash !== record.hash) this.byHash.delete(old.hash)
    this.byId.set(record.id, record)
    this.byHash.set(record.hash, record)
    this.summaryCache = undefined
  }
}

function withChanges(base: KeyRecord, c: KeyChanges, now: number): KeyRecord {
  const out = { ...base }
  if (c.name !== undefined) out.name = c.name
  if (c.models !== undefined) out.models = c.models
  if (c.rpm !== undefined) out.rpm = c.rpm
  if (c.tpm !== undefined) out.tpm = c.tpm
  if (c.tokens_per_day !== undefined) out.tokens_per_day = c.tokens_per_day
  if (c.tokens_per_month !== undefined) out.tokens_per_month = c.tokens_per_month
  if (c.budget !== undefined) out.budget = c.budget === null ? null : ({ action: 'block', ...c.budget } as KeyBudget)
  if (c.no_egress !== undefined) out.no_egress = c.no_egress
  if (c.expires_at !== undefined) out.expires_at = c.expires_at
  if (c.expires_in !== undefined) out.expires_at = now + c.expires_in
  return out
}
