/**
 * `GET /admin/usage?from&to&group_by=key,model,node,day`: this node's usage ledger, summed
 * per group (tokens, requests, spend, cache hits). `from` and `to` are ISO times or epoch
 * ms (default: the last 7 days); `group_by` any of key, model, node, day, hour.
 */
import type { FastifyInstance } from 'fastify'
import { HerdError } from '../../errors/index.ts'
import { COST_UNIT, USAGE_GROUPS, type Tenants, type UsageGroup } from '../../tenants/index.ts'

const WEEK_MS = 7 * 86_400_000
/** Groups a query may name (all of them, once each). */
const MAX_GROUPS = USAGE_GROUPS.length

function time(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isFinite(ms)) throw new HerdError('invalid_request', `'${name}' must be an ISO time or epoch milliseconds`, { param: name })
  return ms
}

export function parseGroups(value: string | undefined): UsageGroup[] {
  if (value === undefined || value === '') return []
  const parts = value.split(',').map((s) => s.trim())
  if (parts.length > MAX_GROUPS) throw new HerdError('invalid_request', `'group_by' takes at most ${MAX_GROUPS} groups`, { param: 'group_by' })
  for (const p of parts) {
    if (!(USAGE_GROUPS as readonly string[]).includes(p))
      throw new HerdError('invalid_request', `'group_by' takes ${USAGE_GROUPS.join(', ')}, not '${p.slice(0, 32)}'`, { param: 'group_by' })
  }
  return [...new Set(parts)] as UsageGroup[]
}

export function usageRoutes(app: FastifyInstance, tenants: Tenants, options: { currency: string; now?: () => number }): void {
  const now = options.now ?? tenants.now
  app.get<{ Querystring: { from?: string; to?: string; group_by?: string } }>('/admin/usage', { config: { auth: 'admin' } }, async (request) => {
    const t = now()
    const to = time(request.query.to, 'to', t + 1)
    const from = time(request.query.from, 'from', to - WEEK_MS)
    if (from >= to) throw new HerdError('invalid_request', "'from' must be before 'to'", { param: 'from' })
    const groupBy = parseGroups(request.query.group_by)
    const rows = tenants.ledger.query({ from, to, groupBy })
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      group_by: groupBy,
      currency: options.currency,
      rows: rows.map((r) => ({ ...r, cost: r.cost_micros / COST_UNIT })),
    }
  })
}
