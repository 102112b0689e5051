/**
 * Traffic of this node in fixed 10 s steps, the last 30 kept, for the dashboard and
 * `herd top` (gossiped as `NodeState.traffic`, so every node shows every node):
 *
 * - requests and their time to first byte, counted on the node the client asked (a
 *   forwarded request is not counted again where it is served, so mesh totals add up);
 * - generated tokens, counted where llama-server generated them (the only place that
 *   knows without reading every body);
 * - errors answered, by code.
 *
 * The per-request cost is a few increments: the step is found by one division, a TTFB
 * goes into a fixed log-scale bucket (at most 20 % above the true value), and memory is
 * bounded by the ring, MAX_TRAFFIC_MODELS and MAX_TRAFFIC_ERROR_CODES.
 */
import type { TrafficState } from '../mesh/types.ts'

export const TRAFFIC_STEP_SECONDS = 10
export const TRAFFIC_STEPS = 30
/** Rates cover the last 60 s (6 steps, the current partial one included). */
export const TRAFFIC_WINDOW_STEPS = 6
/** Models with counters of their own per step; later ones are counted as `other`. */
export const MAX_TRAFFIC_MODELS = 32
/** Error codes with a count of their own per step; later ones are counted as `other`. */
export const MAX_TRAFFIC_ERROR_CODES = 32

/** Bucket i holds TTFBs up to GROWTH^i ms; the last one everything above (about 5 minutes). */
const GROWTH = 1.2
const LOG_GROWTH = Math.log(GROWTH)
const BUCKETS = 70

function bucketOf(ms: number): number {
  if (!(ms > 1)) return 0
  return Math.min(BUCKETS - 1, Math.ceil(Math.log(ms) / LOG_GROWTH))
}

const slot = (index: number): number => ((index % TRAFFIC_STEPS) + TRAFFIC_STEPS) % TRAFFIC_STEPS

class Counts {
  requests = 0
  tokens = 0
  readonly ttfb = new Uint32Array(BUCKETS)
  add(other: Counts): void {
    this.requests += other.requests
    this.tokens += other.tokens
    for (let i = 0; i < BUCKETS; i++) this.ttfb[i] = (this.ttfb[i] ?? 0) + (other.ttfb[i] ?? 0)
  }
}

class Step extends Counts {
  index = -1
  readonly models = new Map<string, Counts>()
  readonly errors = new Map<string, number>()
  reset(index: number): void {
    this.index = index
    this.requests = 0
    this.tokens = 0
    this.ttfb.fill(0)
    this.models.clear()
    this.errors.clear()
  }
  model(id: string): Counts {
    let c = this.models.get(id)
    if (c === undefined) {
      // Past the cap, one more entry: `other`.
      if (this.models.size >= MAX_TRAFFIC_MODELS && id !== 'other') return this.model('other')
      c = new Counts()
      this.models.set(id, c)
    }
    return c
  }
}

/** The TTFB below which `q` of the counted requests fell (bucket upper bound), null with none. */
export function quantile(ttfb: Uint32Array, q: number): number | null {
  let total = 0
  for (const n of ttfb) total += n
  if (total === 0) return null
  const rank = Math.max(1, Math.ceil(q * total))
  let seen = 0
  for (let i = 0; i < ttfb.length; i++) {
    seen += ttfb[i] ?? 0
    if (seen >= rank) return Math.round(GROWTH ** i)
  }
  return Math.round(GROWTH ** (ttfb.length - 1))
}

/** At most MAX_TRAFFIC_ERROR_CODES codes (a minute spans several steps' worth): the rest summed as `other`. */
function topErrors(errors: Record<string, number>): Record<string, number> {
  const entries = Object.entries(errors)
  if (entries.length <= MAX_TRAFFIC_ERROR_CODES) return errors
  entries.sort((a, b) => b[1] - a[1])
  const out: Record<string, number> = Object.fromEntries(entries.slice(0, MAX_TRAFFIC_ERROR_CODES - 1))
  out['other'] = (out['other'] ?? 0) + entries.slice(MAX_TRAFFIC_ERROR_CODES - 1).reduce((n, [, c]) => n + c, 0)
  return out
}

export class Traffic {
  private readonly ring: Step[] = Array.from({ length: TRAFFIC_STEPS }, () => new Step())
  private readonly now: () => number

  /** `now`: the clock (ms), for tests. */
  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now
  }

  private step(): Step {
    const index = Math.floor(this.now() / (TRAFFIC_STEP_SECONDS * 1000))
    const step = this.ring[slot(index)] as Step
    if (step.index !== index) step.reset(index)
    return step
  }

  /** A request whose response head went to its client `ttfbMs` after it arrived. */
  request(model: string, ttfbMs: number): void {
    const step = this.step()
    const b = bucketOf(ttfbMs)
    step.requests++
    step.ttfb[b] = (step.ttfb[b] ?? 0) + 1
    const m = step.model(model)
    m.requests++
    m.ttfb[b] = (m.ttfb[b] ?? 0) + 1
  }

  /** Tokens an instance here generated for `model`. */
  tokens(model: string, n: number): void {
    if (!(n > 0)) return
    const step = this.step()
    step.tokens += n
    step.model(model).tokens += n
  }

  /** An error answered with `code`; `routed`: it was a request for a model (counted as a request too). */
  error(code: string, routed: boolean): void {
    const step = this.step()
    if (routed) step.requests++
    const key = step.errors.has(code) || step.errors.size < MAX_TRAFFIC_ERROR_CODES ? code : 'other'
    step.errors.set(key, (step.errors.get(key) ?? 0) + 1)
  }

  /** The gossiped summary: rates over the last minute and the history, oldest step first. */
  state(): TrafficState {
    const current = this.step().index
    const live = (index: number): Step | undefined => {
      const s = this.ring[slot(index)] as Step
      return s.index === index ? s : undefined
    }
    const window = new Counts()
    const models = new Map<string, Counts>()
    const errors: Record<string, number> = {}
    for (let i = current - TRAFFIC_WINDOW_STEPS + 1; i <= current; i++) {
      const s = live(i)
      if (s === undefined) continue
      window.add(s)
      for (const [id, c] of s.models) {
        let sum = models.get(id)
        if (sum === undefined) models.set(id, (sum = new Counts()))
        sum.add(c)
      }
      for (const [code, n] of s.errors) errors[code] = (errors[code] ?? 0) + n
    }
    const seconds = TRAFFIC_WINDOW_STEPS * TRAFFIC_STEP_SECONDS
    const rate = (n: number): number => Math.round((n / seconds) * 1000) / 1000
    const history: TrafficState['history'] = { stepSeconds: TRAFFIC_STEP_SECONDS, requests: [], tokens: [], ttfbP50Ms: [], ttfbP99Ms: [] }
    for (let i = current - TRAFFIC_STEPS + 1; i <= current; i++) {
      const s = live(i)
      history.requests.push(s?.requests ?? 0)
      history.tokens.push(s?.tokens ?? 0)
      history.ttfbP50Ms.push(s === undefined ? null : quantile(s.ttfb, 0.5))
      history.ttfbP99Ms.push(s === undefined ? null : quantile(s.ttfb, 0.99))
    }
    return {
      windowSeconds: seconds,
      requestsPerSecond: rate(window.requests),
      tokensPerSecond: rate(window.tokens),
      ttfbP50Ms: quantile(window.ttfb, 0.5),
      ttfbP99Ms: quantile(window.ttfb, 0.99),
      errors: topErrors(errors),
      models: [...models]
        .sort((a, b) => b[1].requests + b[1].tokens - (a[1].requests + a[1].tokens))
        .slice(0, MAX_TRAFFIC_MODELS)
        .map(([id, c]) => ({
          id,
          requestsPerSecond: rate(c.requests),
          tokensPerSecond: rate(c.tokens),
          ttfbP50Ms: quantile(c.ttfb, 0.5),
          ttfbP99Ms: quantile(c.ttfb, 0.99),
        })),
      history,
    }
  }
}
