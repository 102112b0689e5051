/**
 * Time windows of the limits. Rates (rpm, tpm) count over a sliding window cut into
 * RATE_BUCKETS buckets aligned to the epoch, so every node's buckets line up and sum: a
 * request counts in the bucket it was admitted in, and a bucket counts while any part of
 * it lies within the last window (so at most a window plus one bucket: never more than the
 * limit in any span of one window). Quotas and budgets count per UTC day and calendar month.
 */

/** Buckets per rate window: 12 → 5 s buckets for a minute. */
export const RATE_BUCKETS = 12

export function bucketMsOf(windowMs: number): number {
  return windowMs / RATE_BUCKETS
}

export function bucketOf(now: number, bucketMs: number): number {
  return Math.floor(now / bucketMs)
}

/** The oldest bucket that still counts at `now` (the current one and RATE_BUCKETS before it). */
export function oldestCounted(now: number, bucketMs: number): number {
  return bucketOf(now, bucketMs) - RATE_BUCKETS
}

/** When bucket `index` stops counting (epoch ms). */
export function bucketLeavesAt(index: number, bucketMs: number): number {
  return (index + RATE_BUCKETS + 1) * bucketMs
}

const DAY_MS = 86_400_000

/** Epoch time has no leap seconds: every UTC day is DAY_MS long, so its start is arithmetic (no Date per request). */
export function dayStart(now: number): number {
  return now - (((now % DAY_MS) + DAY_MS) % DAY_MS)
}

export function nextDayStart(now: number): number {
  return dayStart(now) + 86_400_000
}

/** The last day asked about and its month's start: asked for on every admission, it changes once a day. */
let monthOf = { day: Number.NaN, start: 0 }

export function monthStart(now: number): number {
  const day = dayStart(now)
  if (day === monthOf.day) return monthOf.start
  const d = new Date(now)
  monthOf = { day, start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) }
  return monthOf.start
}

export function nextMonthStart(now: number): number {
  const d = new Date(now)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
}

/**
 * A duration the way OpenAI writes `x-ratelimit-reset-*`: `20ms`, `1s`, `1.5s`, `6m0s`,
 * `1h2m3s`.
 */
export function formatReset(ms: number): string {
  const t = Math.max(0, Math.ceil(ms))
  if (t < 1000) return `${t}ms`
  const h = Math.floor(t / 3_600_000)
  const m = Math.floor((t % 3_600_000) / 60_000)
  // Whole seconds, then the milliseconds without trailing zeros (`1.5s`, `1.05s`, `1.005s`): digits, no toFixed and regex per answer.
  const whole = Math.floor((t % 60_000) / 1000)
  const frac = t % 1000
  const sec =
    frac === 0
      ? `${whole}s`
      : frac % 100 === 0
        ? `${whole}.${frac / 100}s`
        : frac % 10 === 0
          ? `${whole}.${frac < 100 ? '0' : ''}${frac / 10}s`
          : `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}s`
  if (h > 0) return `${h}h${m}m${sec}`
  if (m > 0) return `${m}m${sec}`
  return sec
}
