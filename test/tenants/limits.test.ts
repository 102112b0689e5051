import { describe, expect, it } from 'vitest'
import { UsageCounters } from '../../src/tenants/counters.ts'
import { decide, rateHeaders } from '../../src/tenants/limits.ts'
import { bucketMsOf, dayStart, formatReset, monthStart, nextMonthStart, RATE_BUCKETS } from '../../src/tenants/windows.ts'
import { record } from './helpers.ts'

const WINDOW = 60_000
const BUCKET = bucketMsOf(WINDOW)
// A time on a bucket boundary, so the arithmetic below is exact.
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % BUCKET)

function counters(): UsageCounters {
  return new UsageCounters({ bucketMs: BUCKET })
}

describe('windows', () => {
  it('formats resets the way OpenAI does', () => {
    expect(formatReset(20)).toBe('20ms')
    expect(formatReset(1000)).toBe('1s')
    expect(formatReset(1500)).toBe('1.5s')
    expect(formatReset(360_000)).toBe('6m0s')
    expect(formatReset(3_723_000)).toBe('1h2m3s')
    expect(formatReset(-5)).toBe('0ms')
    // Milliseconds after the seconds, without trailing zeros.
    expect(formatReset(1050)).toBe('1.05s')
    expect(formatReset(1005)).toBe('1.005s')
    expect(formatReset(59_999)).toBe('59.999s')
    expect(formatReset(61_010)).toBe('1m1.01s')
    expect(formatReset(3_600_100)).toBe('1h0m0.1s')
    expect(formatReset(1000.2)).toBe('1.001s')
  })

  it('cuts days and months at UTC midnight', () => {
    const t = Date.UTC(2025, 0, 31, 23, 59, 59)
    expect(dayStart(t)).toBe(Date.UTC(2025, 0, 31))
    expect(monthStart(t)).toBe(Date.UTC(2025, 0, 1))
    // Arithmetic, not Date: the same answers across leap years, month ends and before 1970.
    for (let n = -86_400_000 * 400 - 1; n < Date.UTC(2031, 0, 1); n += 86_400_000 * 13 + 3_600_001) {
      const d = new Date(n)
      expect(dayStart(n)).toBe(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()))
      expect(monthStart(n)).toBe(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1))
    }
    expect(nextMonthStart(t)).toBe(Date.UTC(2025, 1, 1))
  })
})

describe('requests per window', () => {
  it('admits up to the limit and then refuses with the time until a request frees', () => {
    const c = counters()
    const key = record({ rpm: 3 })
    for (let i = 0; i < 3; i++) {
      const d = decide(key, c.totals(key.id, T0 + i), { requests: 1, tokens: 0 }, T0 + i, BUCKET)
      expect(d.ok).toBe(true)
      expect(d.headers['x-ratelimit-remaining-requests']).toBe(String(2 - i))
      c.add(key.id, { requests: 1, tokens: 0, cost: 0 }, T0 + i)
    }
    const refused = decide(key, c.totals(key.id, T0 + 10), { requests: 1, tokens: 0 }, T0 + 10, BUCKET)
    expect(refused).toMatchObject({ ok: false, code: 'rate_limited' })
    // The requests sit in the bucket starting at T0; it stops counting one window and one bucket later.
    expect(refused.retryAfterSeconds).toBe(Math.ceil((WINDOW + BUCKET - 10) / 1000))
    expect(refused.headers).toMatchObject({
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': formatReset(WINDOW + BUCKET - 10),
    })
  })

  it('never admits more than the limit in any span of one window', () => {
    const c = counters()
    const key = record({ rpm: 10 })
    const admitted: number[] = []
    // A request every 100 ms for five windows.
    for (let t = T0; t < T0 + 5 * WINDOW; t += 100) {
      if (decide(key, c.totals(key.id, t), { requests: 1, tokens: 0 }, t, BUCKET).ok) {
        c.add(key.id, { requests: 1, tokens: 0, cost: 0 }, t)
        admitted.push(t)
      }
      c.prune(t)
    }
    for (const start of admitted) expect(admitted.filter((t) => t >= start && t < start + WINDOW).length).toBeLessThanOrEqual(10)
    // …and does not starve either: about one window's worth per window and a bucket.
    expect(admitted.length).toBeGreaterThanOrEqual(Math.floor((5 * WINDOW) / (WINDOW + BUCKET)) * 10)
  })

  it('sums what every node reported', () => {
    const c = counters()
    const key = record({ rpm: 5 })
    c.add(key.id, { requests: 1, tokens: 0, cost: 0 }, T0)
    c.applyRemote('peer-b', [{ k: key.id, b: [[Math.floor(T0 / BUCKET), 2, 0]] }])
    c.applyRemote('peer-c', [{ k: key.id, b: [[Math.floor(T0 / BUCKET) - 1, 1, 0]] }])
    expect(c.totals(key.id, T0).rate.requests).toBe(4)
    // A later report from a peer replaces its earlier one (counts are absolute).
    c.applyRemote('peer-b', [{ k: key.id, b: [[Math.floor(T0 / BUCKET), 3, 0]] }])
    expect(c.totals(key.id, T0).rate.requests).toBe(5)
    expect(decide(key, c.totals(key.id, T0), { requests: 1, tokens: 0 }, T0, BUCKET).ok).toBe(false)
    // Old buckets stop counting.
    expect(c.totals(key.id, T0 + WINDOW + 2 * BUCKET).rate.requests).toBe(0)
  })
})

describe('tokens', () => {
  it('admits on the estimate and settles to the real usage', () => {
    const c = counters()
    const key = record({ tpm: 100 })
    expect(decide(key, c.totals(key.id, T0), { requests: 1, tokens: 80 }, T0, BUCKET).ok).toBe(true)
    const at = c.add(key.id, { requests: 1, tokens: 80, cost: 0 }, T0)
    expect(decide(key, c.totals(key.id, T0), { requests: 1, tokens: 30 }, T0, BUCKET)).toMatchObject({ ok: false, code: 'rate_limited' })
    c.settle(at, { requests: 0, tokens: -60, cost: 0 })
    const d = decide(key, c.totals(key.id, T0), { requests: 1, tokens: 30 }, T0, BUCKET)
    expect(d.ok).toBe(true)
    expect(d.headers).toMatchObject({ 'x-ratelimit-limit-tokens': '100', 'x-ratelimit-remaining-tokens': '50' })
  })

  it('refuses a day quota once used up, until UTC midnight', () => {
    const c = counters()
    const key = record({ tokens_per_day: 1000 })
    c.add(key.id, { requests: 1, tokens: 1000, cost: 0 }, T0)
    const d = decide(key, c.totals(key.id, T0), { requests: 1, tokens: 1 }, T0, BUCKET)
    expect(d).toMatchObject({ ok: false, code: 'quota_exceeded' })
    expect(d.retryAfterSeconds).toBe(Math.ceil((dayStart(T0) + 86_400_000 - T0) / 1000))
    expect(decide(key, c.totals(key.id, dayStart(T0) + 86_400_000), { requests: 1, tokens: 1 }, dayStart(T0) + 86_400_000, BUCKET).ok).toBe(true)
  })

  it('refuses once the budget is spent, whatever the rates say', () => {
    const c = counters()
    const key = record({ budget: { amount: 1, currency: 'usd', period: 'month', action: 'block' }, rpm: 100 })
    c.add(key.id, { requests: 1, tokens: 0, cost: 999_999 }, T0)
    expect(decide(key, c.totals(key.id, T0), { requests: 1, tokens: 0 }, T0, BUCKET).ok).toBe(true)
    c.applyRemote('peer-b', [{ k: key.id, b: [], m: [monthStart(T0), 1, 0, 1] }])
    expect(decide(key, c.totals(key.id, T0), { requests: 1, tokens: 0 }, T0, BUCKET)).toMatchObject({ ok: false, code: 'budget_exceeded' })
  })

  it('sends only the headers of the limits a key has', () => {
    const c = counters()
    expect(rateHeaders(record({ rpm: 5 }), c.totals('key_x', T0), { requests: 1, tokens: 0 }, T0, BUCKET)).toEqual({
      'x-ratelimit-limit-requests': '5',
      'x-ratelimit-remaining-requests': '4',
      'x-ratelimit-reset-requests': formatReset((RATE_BUCKETS + 1) * BUCKET),
    })
    expect(rateHeaders(record(), c.totals('key_x', T0), { requests: 1, tokens: 0 }, T0, BUCKET)).toEqual({})
  })
})

describe('counters as they travel', () => {
  it('sends changed keys once, keeps day and month across a restart, and drops what no longer counts', () => {
    const c = counters()
    c.add('key_a', { requests: 1, tokens: 5, cost: 0 }, T0)
    expect(c.takeChanged(T0).map((e) => e.k)).toEqual(['key_a'])
    expect(c.takeChanged(T0)).toEqual([])
    const again = counters()
    again.restore(c.persisted(), T0 + 1000)
    expect(again.totals('key_a', T0 + 1000)).toMatchObject({ rate: { requests: 0 }, day: { tokens: 5 }, month: { tokens: 5 } })
    c.prune(T0 + 40 * 86_400_000)
    expect(c.snapshot(T0 + 40 * 86_400_000)).toEqual([])
  })
})
