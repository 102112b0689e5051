/** Percentiles and sums over many LoadResults (the rounds of one scenario on one target). */
import type { LoadResult } from './load.ts'

export interface Summary {
  requests: number
  errors: number
  /** Requests per second over all rounds. */
  rps: number
  /** SSE events per second over all rounds (0 for non-streaming). */
  eventsPerSec: number
  p50: number
  p99: number
  ttfbP50: number
  ttfbP99: number
  /** req/s of each round, in order, to pair with the other target's. */
  roundRps: number[]
}

/** Nearest-rank percentile; NaN for no samples. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? Number.NaN
}

/** All values of the lists, sorted, for `percentile`. */
export function sorted(values: number[][]): Float64Array {
  return Float64Array.from(values.flat()).sort()
}

export function summarize(rounds: LoadResult[]): Summary {
  const elapsedS = rounds.reduce((s, r) => s + r.elapsedMs, 0) / 1000
  const requests = rounds.reduce((s, r) => s + r.requests, 0)
  const lat = sorted(rounds.map((r) => r.latencies))
  const ttfb = sorted(rounds.map((r) => r.ttfbs))
  return {
    requests,
    errors: rounds.reduce((s, r) => s + r.errors, 0),
    rps: requests / elapsedS,
    eventsPerSec: rounds.reduce((s, r) => s + r.events, 0) / elapsedS,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    ttfbP50: percentile(ttfb, 50),
    ttfbP99: percentile(ttfb, 99),
    roundRps: rounds.map((r) => (r.requests * 1000) / r.elapsedMs),
  }
}
