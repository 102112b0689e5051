/**
 * One request under a tenant key, before routing: is the model one the key may use, do its
 * budgets, quotas and rates allow one more request; then count it (an estimate of its
 * tokens) and, once its answer has ended, settle the real tokens. Refusals are HerdErrors
 * carrying the key's `x-ratelimit-*` headers, which the api sends with them.
 */
import { HerdError, type ErrorCode } from '../errors/index.ts'
import { NO_EGRESS_HEADER } from '../router/index.ts'
import type { Endpoint, RouteRequest, UpstreamResponse } from '../router/types.ts'
import type { CountedAt, UsageCounters } from './counters.ts'
import { anyMatch } from './glob.ts'
import { decide } from './limits.ts'
import type { KeyRecord } from './record.ts'
import { tapUsage, type SeenUsage } from './usage-tap.ts'
import { budgetState } from './budget.ts'
import { askForUsage, strips, usageChunkFilter } from './stream-usage.ts'

/** The key a request authenticated with (on `request.tenant`). */
export interface Tenant {
  readonly id: string
  readonly name: string
  /** Never to a backend outside the network (`egress: true`). */
  readonly noEgress: boolean
  readonly record: KeyRecord
}

/** Usage of one answer, settled: what later accounting (prices, the ledger) builds on. */
export interface SettledUsage {
  keyId: string
  /** `model:profile` (or backend model) that answered. */
  model: string
  servedBy: string
  promptTokens: number
  completionTokens: number
  /** Whether the numbers came from the answer (else: the admission estimate). */
  measured: boolean
}

/** A refusal the api answers, with the headers it carries. */
export class TenantRefusal extends HerdError {
  readonly headers: Record<string, string>
  constructor(code: ErrorCode, message: string, headers: Record<string, string>, options: { retryAfterSeconds?: number; param?: string } = {}) {
    super(code, message, options)
    this.headers = headers
  }
}

export interface Admission {
  /** The request as it may go on: alternatives the key may not use are left out. */
  route: RouteRequest
  /** `x-ratelimit-*` for this answer (empty for a key without rates). */
  headers: Record<string, string>
  /** The answer, with the key's headers, its tokens settled when its body ends. */
  meter(res: UpstreamResponse): UpstreamResponse
  /** No answer came (the router failed): its estimated tokens are given back; the request still counts. */
  failed(): void
}

export interface GateDeps {
  counters: UsageCounters
  bucketMs: number
  now: () => number
  /** Spend of a settled answer in millionths of the key's budget currency (0 until prices exist). */
  cost: (usage: SettledUsage, record: KeyRecord) => number
  /** `cached`: the answer came from the response cache (cost 0). */
  onSettled: (usage: SettledUsage, costMicros: number, cached: boolean) => void
  /** The key is close to a limit: its counts should reach the peers now, not within the usual push delay. */
  nearLimit: () => void
}

/** What the api lends the gate for one request. */
export interface AdmitOptions {
  /**
   * The request moved to the cheaper equivalents of its model, cheapest first (the
   * catalog's `equivalents:` and prices), or undefined when there is none: used for a
   * `downgrade` key whose budget is spent or projected to be.
   */
  downgrade?: (route: RouteRequest) => RouteRequest | undefined
}

/** Said on an answer that went to a cheaper equivalent because of the key's budget. */
export const ROUTED_HEADER = 'x-herd-routed'

/** Within this share of a limit, a key's counts are pushed at once (they decide the overshoot). */
export const NEAR_LIMIT = 0.8

/** Endpoints whose answers are made of tokens a tpm or quota counts; the rest count as requests only. */
const TOKEN_ENDPOINTS: ReadonlySet<Endpoint> = new Set(['chat', 'completions', 'responses', 'messages', 'infill', 'embeddings', 'rerank'])

/** The model names a key's globs are matched against for one candidate: `model:profile` and the bare model. */
function namesOf(profileId: string, asked: string | undefined): string[] {
  const i = profileId.lastIndexOf(':')
  const names = i > 0 ? [profileId, profileId.slice(0, i)] : [profileId]
  return asked === undefined ? names : [...names, asked]
}

/** The request moved to the cheaper equivalents the key may use, or undefined. */
function downgraded(record: KeyRecord, route: RouteRequest, options: AdmitOptions): RouteRequest | undefined {
  const moved = options.downgrade?.(route)
  if (moved === undefined) return undefined
  // The key's model list still holds: an equivalent it may not use is no way out.
  const ok = [moved.profileId, ...(moved.alternatives ?? [])].filter((id) => record.models.length === 0 || anyMatch(record.models, namesOf(id, undefined)))
  const [first, ...rest] = ok
  if (first === undefined) return undefined
  return { ...moved, profileId: first, alternatives: rest.length === 0 ? undefined : rest }
}

/**
 * The request with only the models the key may use: for a route, its candidates the key
 * allows (or all of them when the key lists the route's name); otherwise the model asked for
 * must be allowed (no silent fallback), and its fallbacks are filtered.
 */
export function allowedRoute(record: KeyRecord, route: RouteRequest): RouteRequest {
  const globs = record.models
  if (globs.length === 0) return route
  const candidates = [route.profileId, ...(route.alternatives ?? [])]
  const asked = route.routeName ?? route.model
  const ok =
    route.routeName !== undefined
      ? candidates.filter((id) => anyMatch(globs, namesOf(id, asked)))
      : anyMatch(globs, namesOf(route.profileId, asked))
        ? [route.profileId, ...(route.alternatives ?? []).filter((id) => anyMatch(globs, namesOf(id, undefined)))]
        : []
  const [first, ...rest] = ok
  if (first === undefined) {
    throw new HerdError('model_not_allowed', `key '${record.name}' may not use model '${route.model ?? route.profileId}' (it may use: ${globs.join(', ')})`, {
      param: 'model',
    })
  }
  if (first === route.profileId && rest.length === (route.alternatives?.length ?? 0)) return route
  return { ...route, profileId: first, alternatives: rest.length === 0 ? undefined : rest }
}

/** Tokens a request may use, before it runs: its body's bytes / 4 (a tokenizer-free guess at the prompt) plus its output cap. */
export function estimateTokens(route: RouteRequest): number {
  if (!TOKEN_ENDPOINTS.has(route.endpoint)) return 0
  return Math.ceil(route.body.length / 4) + (route.maxTokens ?? 0)
}

export function admit(deps: GateDeps, tenant: Tenant, requested: RouteRequest, options: AdmitOptions = {}): Admission {
  const record = tenant.record
  const now = deps.now()
  const totals = deps.counters.totals(record.id, now)
  let allowed = allowedRoute(record, requested)
  // A downgrade key over (or heading over) budget goes to a cheaper equivalent it may use; spent with none, it is refused below.
  const budget = budgetState(record, totals, now)
  const moved = budget === 'spent' || budget === 'projected' ? downgraded(record, allowed, options) : undefined
  if (moved !== undefined) allowed = moved
  // Streams tell their tokens only when asked to (the extra chunk is removed again when the client did not ask).
  const { route, strip } = askForUsage(allowed)
  const estimate = estimateTokens(route)
  const tokens = record.tpm === null ? estimate : Math.min(estimate, record.tpm)
  const decision = decide(moved === undefined ? record : { ...record, budget: null }, totals, { requests: 1, tokens }, now, deps.bucketMs)
  if (!decision.ok) {
    throw new TenantRefusal(decision.code ?? 'rate_limited', decision.message ?? 'limited', decision.headers, {
      ...(decision.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: decision.retryAfterSeconds }),
    })
  }
  const near = (used: number, limit: number | null): boolean => limit !== null && used >= NEAR_LIMIT * limit
  if (
    near(totals.rate.requests + 1, record.rpm) ||
    near(totals.rate.tokens + tokens, record.tpm) ||
    near(totals.day.tokens + tokens, record.tokens_per_day) ||
    near(totals.month.tokens + tokens, record.tokens_per_month)
  )
    deps.nearLimit()
  const at: CountedAt = deps.counters.add(record.id, { requests: 1, tokens, cost: 0 }, now)
  let settled = false
  const settle = (seen: SeenUsage | undefined, model: string, servedBy: string, cached = false): void => {
    if (settled) return
    settled = true
    const measured = seen?.promptTokens !== undefined || seen?.completionTokens !== undefined
    const promptEstimate = Math.min(tokens, Math.ceil(route.body.length / 4))
    const usage: SettledUsage = {
      keyId: record.id,
      model,
      servedBy,
      // Unmeasured (no usage in the answer, or it ended early): the estimate stands.
      promptTokens: measured ? (seen?.promptTokens ?? promptEstimate) : promptEstimate,
      completionTokens: measured ? (seen?.completionTokens ?? 0) : tokens - promptEstimate,
      measured,
    }
    // A response-cache hit generated nothing: its tokens count, at no cost.
    const cost = cached ? 0 : deps.cost(usage, record)
    const actual = TOKEN_ENDPOINTS.has(route.endpoint) ? (measured ? usage.promptTokens + usage.completionTokens : tokens) : 0
    deps.counters.settle(at, { requests: 0, tokens: actual - tokens, cost })
    deps.onSettled(usage, cost, cached)
  }
  return {
    // The router then leaves out backends with `egress: true`, here and on the peers it forwards to.
    route: tenant.noEgress ? { ...route, noEgress: true, headers: { ...route.headers, [NO_EGRESS_HEADER]: '1' } } : route,
    headers: decision.headers,
    meter: (res) => {
      const model = res.headers['x-herd-model'] ?? route.profileId
      // An error answer generated nothing: its estimate is given back.
      const out = tapUsage(
        res,
        (seen) => settle(res.status >= 400 ? { promptTokens: 0, completionTokens: 0 } : seen, model, res.servedBy, res.headers['x-herd-cache'] === 'hit'),
        strip && strips(res) ? usageChunkFilter() : undefined,
      )
      // Every target builds an answer's headers afresh (the router adds to them too): added to in place, not copied twice.
      const headers = out.headers
      for (const k in decision.headers) headers[k] = decision.headers[k] as string
      if (moved !== undefined) {
        headers[ROUTED_HEADER] = 'budget'
        headers['x-herd-model'] = model
      }
      return out
    },
    failed: () => {
      if (settled) return
      settled = true
      deps.counters.settle(at, { requests: 0, tokens: -tokens, cost: 0 })
    },
  }
}
