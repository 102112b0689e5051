/**
 * Whether a key may make one more request now, given the mesh-wide totals: budgets first
 * (they last the longest), then quotas (day, month), then rates (requests, tokens per
 * window). Pure: the caller passes the totals and the time. The answer also carries the
 * `x-ratelimit-*` headers every answer to a rate-limited key gets, successes included.
 */
import type { KeyTotals } from './counters.ts'
import type { KeyRecord } from './record.ts'
import { RATE_BUCKETS, bucketLeavesAt, bucketOf, formatReset, nextDayStart, nextMonthStart } from './windows.ts'

export type LimitRefusal = 'rate_limited' | 'quota_exceeded' | 'budget_exceeded'

export interface LimitDecision {
  ok: boolean
  /** Set when refused. */
  code?: LimitRefusal
  message?: string
  retryAfterSeconds?: number
  /** `x-ratelimit-*` for the key's rate limits, counting this request when admitted. */
  headers: Record<string, string>
}

export interface Ask {
  requests: number
  /** Estimated tokens (prompt + max output); 0 for endpoints that generate nothing. */
  tokens: number
}

/** Spend is counted in millionths of the currency. */
export const COST_UNIT = 1_000_000

export function decide(record: KeyRecord, totals: KeyTotals, ask: Ask, now: number, bucketMs: number): LimitDecision {
  const refuse = (code: LimitRefusal, message: string, untilMs: number): LimitDecision => ({
    ok: false,
    code,
    message,
    retryAfterSeconds: Math.max(1, Math.ceil((untilMs - now) / 1000)),
    headers: rateHeaders(record, totals, { requests: 0, tokens: 0 }, now, bucketMs),
  })
  const budget = record.budget
  if (budget !== null) {
    const spent = budget.period === 'day' ? totals.day.cost : totals.month.cost
    if (spent >= budget.amount * COST_UNIT) {
      const until = budget.period === 'day' ? nextDayStart(now) : nextMonthStart(now)
      return refuse('budget_exceeded', `key '${record.name}' has spent its budget of ${budget.amount} ${budget.currency} this ${budget.period}`, until)
    }
  }
  if (record.tokens_per_day !== null && totals.day.tokens >= record.tokens_per_day) {
    return refuse('quota_exceeded', `key '${record.name}' has used its ${record.tokens_per_day} tokens for today (UTC)`, nextDayStart(now))
  }
  if (record.tokens_per_month !== null && totals.month.tokens >= record.tokens_per_month) {
    return refuse('quota_exceeded', `key '${record.name}' has used its ${record.tokens_per_month} tokens for this month (UTC)`, nextMonthStart(now))
  }
  const windowSec = Math.round((bucketMs * RATE_BUCKETS) / 1000)
  if (record.rpm !== null && totals.rate.requests + ask.requests > record.rpm) {
    const until = freedAt(totals, (b) => b.requests, totals.rate.requests + ask.requests - record.rpm, bucketMs) ?? now + bucketMs
    return refuse('rate_limited', `key '${record.name}' is limited to ${record.rpm} requests per ${windowSec} s`, until)
  }
  // A request larger than the whole limit counts as the limit: it waits for an empty window instead of never passing.
  const tokens = record.tpm === null ? 0 : Math.min(ask.tokens, record.tpm)
  if (record.tpm !== null && tokens > 0 && totals.rate.tokens + tokens > record.tpm) {
    const until = freedAt(totals, (b) => b.tokens, totals.rate.tokens + tokens - record.tpm, bucketMs) ?? now + bucketMs
    return refuse('rate_limited', `key '${record.name}' is limited to ${record.tpm} tokens per ${windowSec} s (this request is estimated at ${tokens})`, until)
  }
  return { ok: true, headers: rateHeaders(record, totals, { requests: ask.requests, tokens }, now, bucketMs) }
}

/** When enough old buckets have left the window to free `excess` (undefined: never within the counted buckets). */
function freedAt(totals: KeyTotals, of: (b: KeyTotals['buckets'][number]) => number, excess: number, bucketMs: number): number | undefined {
  let freed = 0
  for (const b of totals.buckets) {
    freed += of(b)
    if (freed >= excess) return bucketLeavesAt(b.index, bucketMs)
  }
  return undefined
}

/**
 * OpenAI's headers: the limit, what is left after this request, and how long until the
 * window is back to its full limit (when the newest counted bucket leaves it).
 */
export function rateHeaders(record: KeyRecord, totals: KeyTotals, adding: Ask, now: number, bucketMs: number): Record<string, string> {
  const out: Record<string, string> = {}
  // This request lands in the current bucket, the newest; else the newest bucket holding anything.
  const reset = (of: (b: { requests: number; tokens: number }) => number): string => {
    if (of(adding) > 0) return formatReset(bucketLeavesAt(bucketOf(now, bucketMs), bucketMs) - now)
    const last = totals.buckets.findLast((b) => of(b) > 0)
    return formatReset(last === undefined ? 0 : bucketLeavesAt(last.index, bucketMs) - now)
  }
  if (record.rpm !== null) {
    out['x-ratelimit-limit-requests'] = String(record.rpm)
    out['x-ratelimit-remaining-requests'] = String(Math.max(0, record.rpm - totals.rate.requests - adding.requests))
    out['x-ratelimit-reset-requests'] = reset((b) => b.requests)
  }
  if (record.tpm !== null) {
    out['x-ratelimit-limit-tokens'] = String(record.tpm)
    out['x-ratelimit-remaining-tokens'] = String(Math.max(0, record.tpm - totals.rate.tokens - adding.tokens))
    out['x-ratelimit-reset-tokens'] = reset((b) => b.tokens)
  }
  return out
}
