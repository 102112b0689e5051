/**
 * A tenant key as every node holds it: limits and policy, never the secret (only its
 * SHA-256). One shape, snake_case like the config, for the store, the mesh and the admin
 * API. What arrives from a peer is parsed by `keyRecordSchema`, whose caps are named here.
 */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'

export type BudgetPeriod = 'day' | 'month'
/** `block`: refuse once spent; `downgrade`: move to a cheaper equivalent once spent or projected to be (tenants/budget.ts). */
export type BudgetAction = 'block' | 'downgrade'

export interface KeyBudget {
  amount: number
  /** ISO 4217 code, lower case (`usd`). */
  currency: string
  period: BudgetPeriod
  action: BudgetAction
}

export interface KeyRecord {
  /** `key_` and 24 hex digits. */
  id: string
  name: string
  /** SHA-256 hex of the secret. */
  hash: string
  /** Globs (`*`, `?`) over model names; empty: every model. */
  models: string[]
  /** Requests per rate window (a minute unless `tenants.rate_window_ms` says otherwise); null: no limit. */
  rpm: number | null
  /** Tokens per rate window. */
  tpm: number | null
  /** Tokens per UTC day. */
  tokens_per_day: number | null
  /** Tokens per UTC calendar month. */
  tokens_per_month: number | null
  budget: KeyBudget | null
  /** Never served by a backend outside the network (`egress: true`). */
  no_egress: boolean
  /** Epoch ms; null: never. */
  expires_at: number | null
  /** Bumped by every change; the highest wins across the mesh (ties: the larger updated_by). */
  version: number
  /** Final: a revoked record beats any other version of the key. */
  revoked: boolean
  created_at: number
  updated_at: number
  /** The node (peer id) that made this version. */
  updated_by: string
}

export const MAX_KEY_NAME = 128
export const MAX_MODEL_GLOBS = 64
export const MAX_GLOB_LENGTH = 256
/** Largest limit a key may carry (requests or tokens per window). */
export const MAX_LIMIT = 1e12
export const MAX_BUDGET_AMOUNT = 1e9
export const MAX_NODE_ID = 128

export const KEY_ID = /^key_[0-9a-f]{24}$/

const limit = z.number().int().positive().max(MAX_LIMIT).nullable()
const time = z.number().int().nonnegative().max(8.64e15)

export const budgetSchema = z.strictObject({
  amount: z.number().positive().max(MAX_BUDGET_AMOUNT),
  currency: z.string().regex(/^[a-z]{3}$/, 'a three-letter currency code such as usd'),
  period: z.enum(['day', 'month']),
  action: z.enum(['block', 'downgrade']),
})

/** A record as a peer sends it (and as the store holds it). */
export const keyRecordSchema = z.strictObject({
  id: z.string().regex(KEY_ID),
  name: z.string().min(1).max(MAX_KEY_NAME),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  models: z.array(z.string().min(1).max(MAX_GLOB_LENGTH)).max(MAX_MODEL_GLOBS),
  rpm: limit,
  tpm: limit,
  tokens_per_day: limit,
  tokens_per_month: limit,
  budget: budgetSchema.nullable(),
  no_egress: z.boolean(),
  expires_at: time.nullable(),
  version: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  revoked: z.boolean(),
  created_at: time,
  updated_at: time,
  updated_by: z.string().min(1).max(MAX_NODE_ID),
})

// Compile-time check that the schema and the type agree.
const _compatible: (r: z.infer<typeof keyRecordSchema>) => KeyRecord = (r) => r
void _compatible

export function newKeyId(): string {
  return `key_${randomBytes(12).toString('hex')}`
}

/** Why a key cannot be used now, if it cannot. */
export function unusable(record: KeyRecord, now: number): 'revoked' | 'expired' | undefined {
  if (record.revoked) return 'revoked'
  if (record.expires_at !== null && record.expires_at <= now) return 'expired'
  return undefined
}

/** The record as the admin API shows it: no hash, times as ISO 8601. */
export function keyView(record: KeyRecord, now = Date.now()): Record<string, unknown> {
  const { hash: _hash, created_at, updated_at, expires_at, ...rest } = record
  const status = unusable(record, now) ?? 'active'
  return {
    ...rest,
    status,
    expires_at: expires_at === null ? null : new Date(expires_at).toISOString(),
    created_at: new Date(created_at).toISOString(),
    updated_at: new Date(updated_at).toISOString(),
  }
}
