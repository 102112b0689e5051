/**
 * Budget-aware routing: whether a key with `budget.action: downgrade` should move to a
 * cheaper equivalent now. It should once its budget is spent, and before that when its
 * spend so far, kept up at the same rate, would spend it before the period ends.
 */
import type { KeyTotals } from './counters.ts'
import { COST_UNIT } from './limits.ts'
import type { KeyRecord } from './record.ts'
import { dayStart, monthStart, nextDayStart, nextMonthStart } from './windows.ts'

/** The projection looks at no less than this share of the period: one early answer does not project a whole month. */
export const MIN_PROJECTION_SHARE = 0.01

/** The budget's state: none (no budget, or `block`), fine, projected to run out, or spent. */
export function budgetState(record: KeyRecord, totals: KeyTotals, now: number): 'none' | 'ok' | 'projected' | 'spent' {
  const budget = record.budget
  if (budget === null || budget.action !== 'downgrade') return 'none'
  const spent = budget.period === 'day' ? totals.day.cost : totals.month.cost
  const limit = budget.amount * COST_UNIT
  if (spent >= limit) return 'spent'
  const start = budget.period === 'day' ? dayStart(now) : monthStart(now)
  const end = budget.period === 'day' ? nextDayStart(now) : nextMonthStart(now)
  const elapsed = Math.max(now - start, (end - start) * MIN_PROJECTION_SHARE)
  return spent > 0 && (spent * (end - start)) / elapsed >= limit ? 'projected' : 'ok'
}
