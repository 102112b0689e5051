/**
 * What an operator types (CLI flags, admin API bodies) turned into key fields: budgets
 * (`10usd/month`), durations (`30d`), model lists (`qwen*,coder`). The admin API bodies are
 * parsed by the schemas here, strict, with the record's caps.
 */
import { z } from 'zod'
import { HerdError } from '../errors/index.ts'
import { MAX_BUDGET_AMOUNT, MAX_GLOB_LENGTH, MAX_KEY_NAME, MAX_LIMIT, MAX_MODEL_GLOBS, budgetSchema, type KeyBudget } from './record.ts'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** `90s`, `15m`, `12h`, `30d`, `2w` → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim())
  if (m === null) throw new Error(`'${text}' is not a duration like 90s, 15m, 12h, 30d or 2w`)
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000))
}

/** `10usd/month`, `2.5 eur/day`, optionally `:downgrade` → a budget (action `block` unless given). */
export function parseBudget(text: string, action: KeyBudget['action'] = 'block'): KeyBudget {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]{3})\s*\/\s*(day|month)\s*(?::\s*(block|downgrade))?\s*$/.exec(text)
  if (m === null) throw new Error(`'${text}' is not a budget like 10usd/month or 2eur/day`)
  const amount = Number(m[1])
  if (!(amount > 0 && amount <= MAX_BUDGET_AMOUNT)) throw new Error(`budget amount must be above 0 and at most ${MAX_BUDGET_AMOUNT}`)
  return { amount, currency: (m[2] ?? '').toLowerCase(), period: m[3] as KeyBudget['period'], action: (m[4] as KeyBudget['action'] | undefined) ?? action }
}

/** `qwen*, coder` → `['qwen*', 'coder']` (empty items dropped). */
export function parseModels(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

const limit = z.number().int().positive().max(MAX_LIMIT).nullable()
const models = z
  .union([z.string().transform(parseModels), z.array(z.string().trim().min(1))])
  .pipe(z.array(z.string().max(MAX_GLOB_LENGTH)).max(MAX_MODEL_GLOBS))
const budget = z.union([z.string().transform((s, ctx) => orIssue(ctx, () => parseBudget(s))), budgetSchema.partial({ action: true })]).nullable()
const when = z.union([
  z.number().int().nonnegative(),
  z.string().transform((s, ctx) =>
    orIssue(ctx, () => {
      const t = Date.parse(s)
      if (Number.isNaN(t)) throw new Error(`'${s}' is not an ISO 8601 time`)
      return t
    }),
  ),
])
const within = z.string().transform((s, ctx) => orIssue(ctx, () => parseDuration(s)))

const fields = {
  name: z.string().trim().min(1).max(MAX_KEY_NAME),
  models,
  rpm: limit,
  tpm: limit,
  tokens_per_day: limit,
  tokens_per_month: limit,
  budget,
  no_egress: z.boolean(),
  /** Epoch ms or ISO 8601; null: never. */
  expires_at: when.nullable(),
  /** From now: `30d`. */
  expires_in: within,
}

/** `POST /admin/keys` */
export const createKeyBody = z
  .strictObject({ ...fields, name: fields.name })
  .partial()
  .required({ name: true })
/** `PATCH /admin/keys/:id`: only what is given changes; null clears a limit. */
export const updateKeyBody = z.strictObject(fields).partial()

export type KeyChanges = z.output<typeof updateKeyBody>

/** A body parsed by `schema`, or 400 invalid_request naming the field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const param = issue?.path.join('.') || undefined
  throw new HerdError('invalid_request', `${param === undefined ? '' : `${param}: `}${issue?.message ?? 'invalid body'}`, param === undefined ? {} : { param })
}

function orIssue<T>(ctx: z.RefinementCtx, fn: () => T): T {
  try {
    return fn()
  } catch (err: unknown) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) })
    return z.NEVER
  }
}
